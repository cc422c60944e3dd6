-- Test-only Prosody module: static s2s routes, so Prosody reaches a peer
-- on a loopback port without DNS (Prosody 0.12 has no such option).
--
--   test_s2s_routes = { ["xmppd.test"] = { "127.0.0.1", 40123 } }
--
-- mod_s2s asks net.resolvers.service for "xmpps-server" then
-- "xmpp-server" targets of a domain; for a routed domain the former has
-- none and the latter is the configured address.
local service = require "net.resolvers.service";
local basic = require "net.resolvers.basic";
local manual = require "net.resolvers.manual";

local routes = module:get_option("test_s2s_routes", {});
local original = service.new;

service.new = function (hostname, srv, conn_type, extra)
	local r = routes[hostname];
	if not r then
		return original(hostname, srv, conn_type, extra);
	end
	if srv == "xmpps-server" then
		return manual.new({}, conn_type, extra);
	end
	module:log("debug", "static s2s route for %s: %s:%d", hostname, r[1], r[2]);
	return basic.new(r[1], r[2], conn_type, extra);
end

function module.unload()
	service.new = original;
end
