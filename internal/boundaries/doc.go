// Package boundaries holds the test that keeps the packages' dependency
// boundaries: the remediation core knows no remediator, no SDK service and
// no publisher; the domain packages do not import the wiring package app.
package boundaries
