package bot

import "testing"

func TestIsECRRegistry(t *testing.T) {
	for host, want := range map[string]bool{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":     true,
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn": true,
		"public.ecr.aws": false,
		"quay.io":        false,
		"12345678901x.dkr.ecr.us-east-1.amazonaws.com":              false,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example": false,
	} {
		if got := IsECRRegistry(host); got != want {
			t.Errorf("IsECRRegistry(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestIsLoopbackRegistry(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost": true, "[::1]:5000": true, "registry.localhost:80": true,
		"10.0.0.1:5000": false, "registry.example.com:5000": false, "quay.io": false,
	} {
		if got := IsLoopbackRegistry(host); got != want {
			t.Errorf("IsLoopbackRegistry(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestValidateRegistries(t *testing.T) {
	c := &Config{Registries: map[string]*RegistryConfig{
		"quay.io": {Username: "acme+deploybot"},
		"ghcr.io": {Username: "bot", Password: "x"},
		"123456789012.dkr.ecr.us-east-1.amazonaws.com": {Username: "AWS", Password: "x"},
	}}
	got := map[string]bool{}
	for _, e := range c.validateRegistries() {
		got[e.Key] = true
	}
	want := map[string]bool{"registries.quay.io.password": true, "registries.123456789012.dkr.ecr.us-east-1.amazonaws.com": true}
	if len(got) != len(want) || !got["registries.quay.io.password"] || !got["registries.123456789012.dkr.ecr.us-east-1.amazonaws.com"] {
		t.Errorf("errors for %v, want %v", got, want)
	}
}
