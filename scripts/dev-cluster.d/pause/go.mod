// The real node's pod sandbox ("pause") image: no registry serves one here, so
// scripts/dev-cluster builds this program and packs it into a one-file image.
module ci-fixer.local/dev-cluster/pause

go 1.26.0
