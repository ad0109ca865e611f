package keyspec

import "crypto/sha3"

// mlDSAMu computes μ for pure ML-DSA with an empty context (FIPS 204,
// Algorithm 2 line 10 and Algorithm 7 lines 6-7).
func mlDSAMu(pk, message []byte) []byte {
	h := sha3.NewSHAKE256()
	h.Write(pk)
	tr := make([]byte, 64)
	h.Read(tr)
	h.Reset()
	h.Write(tr)
	h.Write([]byte{0, 0})
	h.Write(message)
	mu := make([]byte, mlDSAMuSize)
	h.Read(mu)
	return mu
}
