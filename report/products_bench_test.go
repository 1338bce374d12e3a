package report

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// BenchmarkProducts10k measures reading 2,000 GuardDuty and 8,000
// Inspector findings (the fixture's shapes on distinct resources) into
// their sections and rendering every file.
func BenchmarkProducts10k(b *testing.B) {
	m, err := DefaultMapping()
	if err != nil {
		b.Fatal(err)
	}
	fixture := loadProductFindings(b)
	var gd, insp []shtypes.AwsSecurityFinding
	for _, a := range fixture {
		if !activeProduct(a) {
			continue
		}
		if aws.ToString(a.ProductName) == ProductGuardDuty {
			gd = append(gd, a)
		} else {
			insp = append(insp, a)
		}
	}
	var raw []shtypes.AwsSecurityFinding
	for i := 0; i < 10000; i++ {
		src := insp
		if i%5 == 0 {
			src = gd
		}
		a := src[i%len(src)]
		a.Id = aws.String(fmt.Sprintf("%s-%d", aws.ToString(a.Id), i))
		a.Resources = []shtypes.Resource{{Type: a.Resources[0].Type, Id: aws.String(fmt.Sprintf("%s-%d", aws.ToString(a.Resources[0].Id), i))}}
		raw = append(raw, a)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var pf ProductFindings
		for _, a := range raw {
			pf.add(a, "us-east-1")
		}
		r := Build(nil, m, fixedActivity(), Meta{GeneratedAt: fixedNow, Regions: []string{"us-east-1"}})
		r.AddProducts(pf)
		if _, err := r.Files(); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(len(pf.Threats)), "threats")
			b.ReportMetric(float64(len(pf.Vulnerabilities)), "vuln-rows")
		}
	}
}
