// Package docs holds no code: its tests keep the Markdown documentation
// (README.md, CONTRIBUTING.md, docs/ and terraform/README.md) navigable and
// in step with the code. Every relative link and #anchor must resolve, the
// README must stay short, and its tables of remediators and outcomes must
// match the remediator definitions and the outcome actions.
package docs
