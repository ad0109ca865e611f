package postgres

// ListKeysSQL is ListKeys' query, for the test of its plan.
const ListKeysSQL = listKeysSQL
