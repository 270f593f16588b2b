package httpapi

// recordRoute, when set, is told of every path [Server.handle] registers and of the methods it takes.
// Only openapi_test.go sets it, to hold docs/openapi.yaml to the endpoints of routes.go without a second
// list that could drift; in a running server it is nil.
var recordRoute func(path string, methods map[string]method)
