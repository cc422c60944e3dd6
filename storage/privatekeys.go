package storage

// The PrivateXML keys modules and the export agree on: XEP-0049 fragments
// under their root element, the XEP-0054 vCard under one key of its own.

// VCardKey is the PrivateXML key of an account's vCard (XEP-0054).
const VCardKey = "vcard-temp"

// PrivateKey is the PrivateXML key of XEP-0049 fragments whose root
// element is ns/local: Clark notation, "{ns}local", so it never collides
// with VCardKey (XEP-0049 refuses the vcard-temp namespace anyway).
func PrivateKey(ns, local string) string { return "{" + ns + "}" + local }
