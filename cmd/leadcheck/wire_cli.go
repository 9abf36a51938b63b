package main

// cliSettings are read by the validate and bulk commands, not by serve.
func cliSettings() []setting {
	return []setting{
		{"LEADCHECK_API_KEY", "", "API key that validate and bulk send with --server (their --api-key wins over it)", func(c *config, v string) error { c.APIKey = v; return nil }},
	}
}
