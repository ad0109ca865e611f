// Package usage reports, per account and key, the key-hours and the
// requests of a month and what they cost under a price table, for
// chargeback (`trent usage report`, docs/operations.md).
//
// # Sources
//
// A report is derived from the audit trail and the store, never from a
// counter written per request: the store gives the current keys (creation
// date, spec, manager, deletion state, material versions), the audit
// trail gives the keys already deleted and every request. See [Build] for
// the billing rules and the AWS KMS pricing text they follow, and
// [DefaultPrices] for the list prices.
package usage
