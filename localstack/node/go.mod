// This folder holds Mosaic's pinned Node tools (package.json); the go.mod
// keeps its node_modules out of the Go module's ./... patterns.
module mosaic-node-tools

go 1.26
