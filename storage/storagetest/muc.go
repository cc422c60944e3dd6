package storagetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// RunMUCRooms checks a storage.MUCRooms backend.
func RunMUCRooms(t *testing.T, newStore func(t *testing.T) storage.MUCRooms) {
	t.Helper()
	run(t, newStore, []testCase[storage.MUCRooms]{
		{"Empty", testMUCEmpty},
		{"SaveReplace", testMUCSaveReplace},
		{"Affiliations", testMUCAffiliations},
		{"AffiliationMissingRoom", testMUCAffMissingRoom},
		{"DeleteCascades", testMUCDelete},
		{"ServicesApart", testMUCServicesApart},
	})
}

func mustSaveRoom(t *testing.T, ctx context.Context, s storage.MUCRooms, r storage.MUCRoom) {
	t.Helper()
	if err := s.SaveMUCRoom(ctx, r); err != nil {
		t.Fatalf("SaveMUCRoom(%s@%s): %v", r.Name, r.Service, err)
	}
}

func mustRooms(t *testing.T, ctx context.Context, s storage.MUCRooms, service string) []storage.MUCRoom {
	t.Helper()
	rs, err := s.MUCRooms(ctx, service)
	if err != nil {
		t.Fatalf("MUCRooms(%s): %v", service, err)
	}
	return rs
}

func mustAff(t *testing.T, ctx context.Context, s storage.MUCRooms, service, name string, a storage.MUCAffiliation) {
	t.Helper()
	if err := s.SetMUCAffiliation(ctx, service, name, a); err != nil {
		t.Fatalf("SetMUCAffiliation(%s, %+v): %v", name, a, err)
	}
}

func testMUCEmpty(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	if rs := mustRooms(t, ctx, s, "conference.example.org"); len(rs) != 0 {
		t.Fatalf("rooms of an empty store: %+v", rs)
	}
	if err := s.DeleteMUCRoom(ctx, "conference.example.org", "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("DeleteMUCRoom(absent) = %v, want ErrNotFound", err)
	}
}

func testMUCSaveReplace(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	const svc = "conference.example.org"
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "b", Config: []byte("cfg-b")})
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "a", Config: []byte("cfg-a1"), VCard: []byte("<vCard/>")})
	mustAff(t, ctx, s, svc, "a", storage.MUCAffiliation{JID: "alice@example.org", Affiliation: "owner"})
	// Replacing config and vCard keeps the affiliations.
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "a", Config: []byte("cfg-a2")})
	rs := mustRooms(t, ctx, s, svc)
	if len(rs) != 2 || rs[0].Name != "a" || rs[1].Name != "b" {
		t.Fatalf("rooms = %+v, want a, b", rs)
	}
	if !bytes.Equal(rs[0].Config, []byte("cfg-a2")) || rs[0].VCard != nil {
		t.Fatalf("room a = %+v, want replaced config and no vCard", rs[0])
	}
	if len(rs[0].Affiliations) != 1 || rs[0].Affiliations[0].JID != "alice@example.org" {
		t.Fatalf("room a affiliations = %+v, want alice kept", rs[0].Affiliations)
	}
	if !bytes.Equal(rs[1].Config, []byte("cfg-b")) || len(rs[1].Affiliations) != 0 {
		t.Fatalf("room b = %+v", rs[1])
	}
}

func testMUCAffiliations(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	const svc = "conference.example.org"
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "r", Config: []byte("{}")})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "zed@example.org", Affiliation: "member", Nick: "Zed"})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "bad@example.org", Affiliation: "outcast", Reason: "spam"})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "example.net", Affiliation: "outcast"})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "zed@example.org", Affiliation: "admin", Nick: "Z"})
	want := []storage.MUCAffiliation{
		{JID: "bad@example.org", Affiliation: "outcast", Reason: "spam"},
		{JID: "example.net", Affiliation: "outcast"},
		{JID: "zed@example.org", Affiliation: "admin", Nick: "Z"},
	}
	got := mustRooms(t, ctx, s, svc)[0].Affiliations
	if len(got) != len(want) {
		t.Fatalf("affiliations = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("affiliation %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "bad@example.org", Affiliation: "none"})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "never@example.org"}) // absent: no error
	if got := mustRooms(t, ctx, s, svc)[0].Affiliations; len(got) != 2 || got[0].JID != "example.net" {
		t.Fatalf("after removal: %+v", got)
	}
}

func testMUCAffMissingRoom(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	for _, aff := range []string{"member", "none"} {
		err := s.SetMUCAffiliation(ctx, "conference.example.org", "nope", storage.MUCAffiliation{JID: "a@example.org", Affiliation: aff})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("SetMUCAffiliation(%s) on a missing room = %v, want ErrNotFound", aff, err)
		}
	}
}

func testMUCDelete(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	const svc = "conference.example.org"
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "r", Config: []byte("{}")})
	mustAff(t, ctx, s, svc, "r", storage.MUCAffiliation{JID: "a@example.org", Affiliation: "owner"})
	if err := s.DeleteMUCRoom(ctx, svc, "r"); err != nil {
		t.Fatal(err)
	}
	if rs := mustRooms(t, ctx, s, svc); len(rs) != 0 {
		t.Fatalf("rooms after delete: %+v", rs)
	}
	// Created again, it starts without the old affiliations.
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: svc, Name: "r", Config: []byte("{}")})
	if rs := mustRooms(t, ctx, s, svc); len(rs) != 1 || len(rs[0].Affiliations) != 0 {
		t.Fatalf("recreated room: %+v", rs)
	}
}

func testMUCServicesApart(t *testing.T, ctx context.Context, s storage.MUCRooms) {
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: "conference.a.org", Name: "r", Config: []byte("a")})
	mustSaveRoom(t, ctx, s, storage.MUCRoom{Service: "conference.b.org", Name: "r", Config: []byte("b")})
	mustAff(t, ctx, s, "conference.a.org", "r", storage.MUCAffiliation{JID: "x@a.org", Affiliation: "owner"})
	rs := mustRooms(t, ctx, s, "conference.b.org")
	if len(rs) != 1 || string(rs[0].Config) != "b" || len(rs[0].Affiliations) != 0 {
		t.Fatalf("service b: %+v", rs)
	}
}
