-- mod_storage_xmppd_muc: a prosody-migrator output store that writes the
-- persistent rooms of a Prosody MUC component, and their archives, in the
-- shape `xmppd import` reads (urn:xmppd:pie:muc:0, documented in xmppd's
-- cmd/xmppd/xep0227_muc.go). Prosody 0.12's own xep0227 store cannot
-- write rooms ("unsupported-datastore").
--
-- Copy this file into Prosody's plugin folder (/usr/lib/prosody/modules/,
-- or <data folder>/custom_plugins/), then in the migrator's configuration:
--
--   input  { hosts = { ["conference.example.org"] = { "config", "muc_log-archive" } }; type = "internal"; path = "/var/lib/prosody" }
--   output { type = "xmppd_muc" }
--
-- (type = "sql" and its settings for an SQL store). It writes
-- ROOM@SERVICE.xml (configuration and affiliations) and, from the room
-- archive, ROOM@SERVICE.archive.xml into the migrator's data folder; give
-- both to `xmppd import`.
--
-- What travels: name, description, language, password, members-only,
-- moderated, public (not hidden), whois, who may change the subject, who
-- may invite, whose presence is broadcast, the subject and who set it;
-- owner, admin, member and outcast affiliations with reserved nicknames.
-- Prosody's history length and other settings xmppd lacks are left out.

local st = require "util.stanza";
local dt = require "util.datetime";
local jid_resource = require "util.jid".resource;
local paths = require "util.paths";

local xmlns_pie = "urn:xmpp:pie:0";
local xmlns_room = "urn:xmppd:pie:muc:0";
local xmlns_mam_pie = "urn:xmpp:pie:0#mam";

local host = module.host;

local function path(name)
	return paths.join(prosody.paths.data, name);
end

local function bool(v) return v and "1" or "0"; end

local function room_element(node, frozen)
	local data = frozen._data or {};
	local room = st.stanza("room", { xmlns = xmlns_room, name = node });
	local form = room:tag("x", { xmlns = "jabber:x:data", type = "submit" });
	local function field(var, values)
		form:tag("field", { var = var });
		for _, v in ipairs(values) do form:text_tag("value", v); end
		form:up();
	end
	field("FORM_TYPE", { "http://jabber.org/protocol/muc#roomconfig" });
	field("muc#roomconfig_roomname", { data.name or "" });
	field("muc#roomconfig_roomdesc", { data.description or "" });
	field("muc#roomconfig_lang", { data.language or "" });
	field("muc#roomconfig_persistentroom", { "1" });
	field("muc#roomconfig_publicroom", { bool(not data.hidden) });
	field("muc#roomconfig_membersonly", { bool(data.members_only) });
	field("muc#roomconfig_moderatedroom", { bool(data.moderated) });
	field("muc#roomconfig_changesubject", { bool(data.changesubject) });
	field("muc#roomconfig_allowinvites", { bool(data.allow_member_invites) });
	field("muc#roomconfig_whois", { data.whois == "anyone" and "anyone" or "moderators" });
	field("muc#roomconfig_passwordprotectedroom", { bool(data.password and data.password ~= "") });
	field("muc#roomconfig_roomsecret", { data.password or "" });
	if type(data.presence_broadcast) == "table" then
		local roles = {};
		for _, role in ipairs({ "moderator", "participant", "visitor" }) do
			if data.presence_broadcast[role] then table.insert(roles, role); end
		end
		field("muc#roomconfig_presencebroadcast", roles);
	end
	form:up();
	if data.subject then
		room:text_tag("subject", data.subject, { nick = data.subject_from and jid_resource(data.subject_from) or nil });
	end
	local affiliations = frozen._affiliations; -- the old format
	if not affiliations then
		affiliations = {};
		for k, v in pairs(frozen) do
			-- the new format: bare JIDs (or domains) at the top level
			if type(v) == "string" and k:sub(1, 1) ~= "_" then affiliations[k] = v; end
		end
	end
	local query = room:tag("query", { xmlns = "http://jabber.org/protocol/muc#admin" });
	local extra = frozen._affiliation_data or {};
	for jid, affiliation in pairs(affiliations) do
		local reg = extra[jid];
		query:tag("item", { jid = jid, affiliation = affiliation, nick = reg and reg.reserved_nickname or nil }):up();
	end
	query:up();
	return room;
end

local function document(el)
	return st.stanza("server-data", { xmlns = xmlns_pie }):tag("host", { jid = host }):add_child(el);
end

local config = {};
function config:get() return nil; end
function config:set(node, frozen)
	if node == nil or frozen == nil then return true; end -- host data, deletions
	local f, err = io.open(path(node .. "@" .. host .. ".xml"), "w");
	if not f then return nil, err; end
	f:write("<?xml version='1.0' encoding='UTF-8'?>\n", tostring(document(room_element(node, frozen))), "\n");
	f:close();
	return true;
end

-- The archive is written as it comes: each append adds one <result/> and
-- rewrites the closing tags, so the file is a whole document after every
-- append and no append reads what came before.
local closing = "</archive></room></host></server-data>\n";
local archive = {};
function archive:find() return nil, "this store is an output only"; end
function archive:append(node, key, item, when, with) -- luacheck: ignore 212/with
	if node == nil then return true; end
	local name = path(node .. "@" .. host .. ".archive.xml");
	local f = io.open(name, "r+");
	if f then
		f:seek("end", -#closing);
	else
		local err;
		f, err = io.open(name, "w");
		if not f then return nil, err; end
		f:write("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='", xmlns_pie, "'><host jid='", host,
			"'><room xmlns='", xmlns_room, "' name='", node, "'><archive xmlns='", xmlns_mam_pie, "'>");
	end
	local message = st.clone(item);
	message.attr.xmlns = "jabber:client";
	local result = st.stanza("result", { xmlns = "urn:xmpp:mam:2", id = key })
		:tag("forwarded", { xmlns = "urn:xmpp:forward:0" })
			:tag("delay", { xmlns = "urn:xmpp:delay", stamp = dt.datetime(when) }):up()
			:add_child(message);
	f:write(tostring(result), "\n", closing);
	f:close();
	return key;
end

local driver = {};
function driver:open(store, typ)
	if store == "config" and (typ == nil or typ == "keyval") then
		return setmetatable({}, { __index = config });
	elseif store == "muc_log" and typ == "archive" then
		return setmetatable({}, { __index = archive });
	elseif store == "persistent" then
		return setmetatable({}, { __index = { get = function() return nil; end, set = function() return true; end } });
	end
	return nil, "unsupported-datastore";
end

module:provides("storage", driver);
