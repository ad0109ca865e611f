package usage

// ForAccount returns the part of r that concerns the account id: the
// rows of its keys' key-hours and of the requests it made (requests are
// charged to the caller's account, see [Build]), its total, and a report
// total that is its total. r is not modified.
func (r *Report) ForAccount(id string) *Report {
	out := *r
	out.Keys, out.Accounts, out.Total = []KeyUsage{}, []AccountTotal{}, Money{}
	for _, k := range r.Keys {
		if k.AccountID == id {
			out.Keys = append(out.Keys, k)
		}
	}
	for _, a := range r.Accounts {
		if a.AccountID == id {
			out.Accounts = append(out.Accounts, a)
			out.Total = out.Total.add(a.Total)
		}
	}
	return &out
}
