package jid

import "testing"

var (
	sinkJID JID
	sinkStr string
)

func BenchmarkParseASCII(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkJID, _ = Parse("juliet@example.com/balcony")
	}
}

func BenchmarkParseASCIIUpper(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkJID, _ = Parse("Juliet@Example.COM/balcony")
	}
}

func BenchmarkParseUnicode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkJID, _ = Parse("Σπύρος@münchen.de/♚")
	}
}

func BenchmarkString(b *testing.B) {
	j := MustParse("juliet@example.com/balcony")
	b.ReportAllocs()
	for b.Loop() {
		sinkStr = j.String()
	}
}
