package wire

import "testing"

func TestStatus(t *testing.T) {
	cases := map[string]int{
		"NotFoundException":              400,
		"AlreadyExistsException":         400,
		"DisabledException":              400,
		"KMSInvalidStateException":       400,
		"ConflictException":              400,
		"DryRunOperationException":       400,
		"DependencyTimeoutException":     503,
		"KMSInternalException":           500,
		"KeyUnavailableException":        500,
		"InvalidCiphertextException":     400,
		"ValidationException":            400,
		"AccessDeniedException":          400,
		"ThrottlingException":            400,
		"RequestEntityTooLarge":          413,
		"RequestEntityTooLargeException": 413,
		"SomethingNew":                   400,
	}
	for code, want := range cases {
		if got := Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestStatusCoversModel fails when an operation lists an error shape that the
// status table does not know.
func TestStatusCoversModel(t *testing.T) {
	for name, op := range Operations {
		for _, e := range op.Errors {
			if _, ok := statuses[e]; !ok {
				t.Errorf("%s: error %s has no status", name, e)
			}
		}
	}
}
