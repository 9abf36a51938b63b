package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// The fixture world: every domain the scenarios use is answered by the local
// DNS server from zone text written here. Names are generated from an index
// so scenarios can draw from them without keeping lists.

// fixtureSOA makes the server authoritative for .com, so that a name the
// zone does not hold is NXDOMAIN (a definite answer), not REFUSED.
const fixtureSOA = "com. IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 300\n"

// fixtureTTL is the TTL of every generated record. The service clamps it to
// its minimum (5 min by default), far longer than any scenario.
const fixtureTTL = 3600

// leadDomain is the i-th domain of the bulk files (and of B1's cached set).
func leadDomain(i int) string { return "lead" + pad5(i) + "-corp.com" }

// coldDomain is the i-th domain kept for B2, never asked before B2 asks it.
func coldDomain(i int) string { return "cold" + pad5(i) + "-corp.com" }

// goneDomain is a domain that does not exist (NXDOMAIN).
func goneDomain(i int) string { return "gone" + pad5(i) + "-corp.com" }

func pad5(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 5 {
		s = "0" + s
	}
	return s
}

// domainKind is how a lead domain is set up; most receive mail normally, a
// few exercise the other outcomes so bulk jobs see every verdict.
type domainKind int

const (
	kindMail     domainKind = iota // MX, SPF, DMARC on every other domain
	kindNullMX                     // RFC 7505 null MX: invalid
	kindImplicit                   // no MX, an A record: valid with implicit MX
	kindNoMail                     // no MX, no A (a TXT only): no_mail_server
)

func leadDomainKind(i int) domainKind {
	switch i % 100 {
	case 1:
		return kindNullMX
	case 2:
		return kindImplicit
	case 3:
		return kindNoMail
	default:
		return kindMail
	}
}

// writeZone writes zone text for leads lead domains and cold cold domains.
func writeZone(w io.Writer, leads, cold int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "$TTL %d\n%s", fixtureTTL, fixtureSOA)
	for i := range leads {
		writeDomain(bw, leadDomain(i), leadDomainKind(i), i)
	}
	for i := range cold {
		writeDomain(bw, coldDomain(i), kindMail, i)
	}
	return bw.Flush()
}

func writeDomain(w *bufio.Writer, d string, kind domainKind, i int) {
	ip := fmt.Sprintf("192.0.2.%d", i%250+1)
	switch kind {
	case kindMail:
		fmt.Fprintf(w, "%s. IN MX 10 mx1.%s.\n%s. IN MX 20 mx2.%s.\n", d, d, d, d)
		fmt.Fprintf(w, "%s. IN A %s\n%s. IN TXT \"v=spf1 mx -all\"\n", d, ip, d)
		if i%2 == 0 {
			fmt.Fprintf(w, "_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine\"\n", d)
		}
	case kindNullMX:
		fmt.Fprintf(w, "%s. IN MX 0 .\n", d)
	case kindImplicit:
		fmt.Fprintf(w, "%s. IN A %s\n", d, ip)
	case kindNoMail:
		fmt.Fprintf(w, "%s. IN TXT \"v=spf1 -all\"\n", d)
	}
}

// dataset is a generated lead file on disk.
type dataset struct {
	Path string
	Rows int // data rows, header not counted
}

// leadFiles are the bulk inputs: Big (B3) and Small, whose rows are the
// first rows of Big (B4, B5).
type leadFiles struct {
	Big, Small dataset
}

var (
	firstNames = []string{"jane", "john", "maria", "wei", "amara", "liam", "sofia", "noah", "priya", "lucas",
		"emma", "omar", "chloe", "ivan", "yuki", "ana", "ben", "fatima", "leo", "nina"}
	lastNames = []string{"doe", "smith", "garcia", "chen", "okafor", "brown", "rossi", "muller", "patel", "silva",
		"jones", "haddad", "martin", "petrov", "tanaka", "souza", "taylor", "khan", "moreau", "berg"}
	areaCodes = []int{201, 212, 305, 312, 415, 512, 617, 646, 702, 718, 801, 919}
)

// writeLeadFiles writes a CSV of big rows (email, phone, name) over domains
// lead domains, and a CSV of its first small rows, in one streaming pass:
// neither file is ever held in memory. Rows are deterministic for a seed.
//
// Mix: 2% addresses with bad syntax, 3% at domains that do not exist, the
// rest spread evenly over the lead domains; 10% without a phone; phones in
// US national form (the upload's default country) and in international form.
func writeLeadFiles(dir string, big, small, domains int, seed uint64) (leadFiles, error) {
	if small > big || domains <= 0 {
		return leadFiles{}, fmt.Errorf("lead files: want 0 < domains and small (%d) <= big (%d)", small, big)
	}
	files := leadFiles{
		Big:   dataset{Path: filepath.Join(dir, fmt.Sprintf("leads-%d.csv", big)), Rows: big},
		Small: dataset{Path: filepath.Join(dir, fmt.Sprintf("leads-%d.csv", small)), Rows: small},
	}
	bf, err := os.Create(files.Big.Path)
	if err != nil {
		return leadFiles{}, fmt.Errorf("lead files: %w", err)
	}
	defer bf.Close()
	sf, err := os.Create(files.Small.Path)
	if err != nil {
		return leadFiles{}, fmt.Errorf("lead files: %w", err)
	}
	defer sf.Close()
	bb, sb := bufio.NewWriterSize(bf, 1<<16), bufio.NewWriterSize(sf, 1<<16)
	bw, sw := csv.NewWriter(bb), csv.NewWriter(sb)

	header := []string{"email", "phone", "name"}
	_ = bw.Write(header)
	_ = sw.Write(header)
	rng := rand.New(rand.NewPCG(seed, 0x6c656164))
	rec := make([]string, 3)
	for i := range big {
		leadRow(rng, i, domains, rec)
		_ = bw.Write(rec)
		if i < small {
			_ = sw.Write(rec)
		}
	}
	for _, w := range []*csv.Writer{bw, sw} {
		w.Flush()
		if err := w.Error(); err != nil {
			return leadFiles{}, fmt.Errorf("lead files: write: %w", err)
		}
	}
	for _, b := range []*bufio.Writer{bb, sb} {
		if err := b.Flush(); err != nil {
			return leadFiles{}, fmt.Errorf("lead files: write: %w", err)
		}
	}
	for _, f := range []*os.File{bf, sf} {
		if err := f.Close(); err != nil {
			return leadFiles{}, fmt.Errorf("lead files: close: %w", err)
		}
	}
	return files, nil
}

// leadRow fills rec with row i: email, phone, name.
func leadRow(rng *rand.Rand, i, domains int, rec []string) {
	first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
	local := first + "." + last + strconv.Itoa(i)
	switch r := rng.IntN(100); {
	case r < 2:
		rec[0] = local + ".at." + leadDomain(rng.IntN(domains))
	case r < 5:
		rec[0] = local + "@" + goneDomain(rng.IntN(domains/10+1))
	default:
		rec[0] = local + "@" + leadDomain(rng.IntN(domains))
	}
	switch p := rng.IntN(10); {
	case p == 0:
		rec[1] = ""
	case p <= 6:
		rec[1] = fmt.Sprintf("(%d) %d-%04d", areaCodes[rng.IntN(len(areaCodes))], 200+rng.IntN(800), rng.IntN(10000))
	case p <= 8:
		rec[1] = fmt.Sprintf("+44 7400 %06d", rng.IntN(1000000))
	default:
		rec[1] = fmt.Sprintf("+49 1512 %07d", rng.IntN(10000000))
	}
	rec[2] = titleCase(first) + " " + titleCase(last)
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
