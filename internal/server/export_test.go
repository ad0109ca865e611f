package server

// PrepareDataDir exposes prepareDataDir so tests can inject the uid the
// server runs as (the tests themselves run as root in CI).
var PrepareDataDir = prepareDataDir
