package usage

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the header row of [Report.WriteCSV].
var CSVHeader = []string{"row", "account_id", "key_arn", "kind", "key_spec", "key_manager", "key_hours", "rotation_hours",
	"requests_symmetric", "requests_rsa_2048", "requests_asymmetric", "requests_generate_data_key_pair_ecc",
	"requests_generate_data_key_pair_rsa", "free_requests", "key_cost", "rotation_cost", "request_cost",
	"free_tier_credit", "total"}

// WriteCSV writes one row per account and key ("key"), then one per
// account ("account") with the free tier applied; the header is
// [CSVHeader]. Amounts are in the report's currency, six decimals.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, k := range r.Keys {
		row := []string{"key", k.AccountID, k.KeyARN, k.Kind, k.KeySpec, k.KeyManager, itoa(k.KeyHours), itoa(k.RotationHours)}
		for _, c := range Classes {
			row = append(row, itoa(k.Requests[c]))
		}
		total := k.KeyCost.add(k.RotationCost).add(k.RequestCost)
		row = append(row, "", k.KeyCost.String(), k.RotationCost.String(), k.RequestCost.String(), "", total.String())
		cw.Write(row)
	}
	for _, a := range r.Accounts {
		row := []string{"account", a.AccountID, "", "", "", "", itoa(a.KeyHours), itoa(a.RotationHours)}
		for _, c := range Classes {
			row = append(row, itoa(a.Requests[c]))
		}
		row = append(row, itoa(a.FreeRequests), a.KeyCost.String(), a.RotationCost.String(), a.RequestCost.String(),
			a.FreeTierCredit.String(), a.Total.String())
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the report for people: the keys, then the account
// totals.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "Usage for %s: %s to %s (%d hours in the month), prices in %s\n",
		r.Month, r.Start.Format(time.RFC3339), r.Until.Format(time.RFC3339), r.HoursInMonth, r.Currency)
	fmt.Fprintln(w, "Requests by class: SYM symmetric, RSA2048 rsa_2048, ASYM asymmetric, PAIR-ECC and PAIR-RSA GenerateDataKeyPair.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tKEY\tKIND\tMANAGER\tKEY-HOURS\tROT-HOURS\tSYM\tRSA2048\tASYM\tPAIR-ECC\tPAIR-RSA\tKEYS\tROTATIONS\tREQUESTS")
	for _, k := range r.Keys {
		arn := k.KeyARN
		if arn == "" {
			arn = "(no key)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t", k.AccountID, arn, dash(k.Kind), dash(k.KeyManager), k.KeyHours, k.RotationHours)
		for _, c := range Classes {
			fmt.Fprintf(tw, "%d\t", k.Requests[c])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.KeyCost, k.RotationCost, k.RequestCost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tKEY-HOURS\tROT-HOURS\tSYM\tRSA2048\tASYM\tPAIR-ECC\tPAIR-RSA\tKEYS\tROTATIONS\tREQUESTS\tFREE-TIER\tTOTAL")
	for _, a := range r.Accounts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t", a.AccountID, a.KeyHours, a.RotationHours)
		for _, c := range Classes {
			fmt.Fprintf(tw, "%d\t", a.Requests[c])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t-%s\t%s\n", a.KeyCost, a.RotationCost, a.RequestCost, a.FreeTierCredit, a.Total)
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t\t\t\t\t\t\t\t%s\n", r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range r.Keys {
		if k.Note != "" {
			fmt.Fprintf(w, "note: %s: %s\n", k.KeyARN, k.Note)
		}
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
