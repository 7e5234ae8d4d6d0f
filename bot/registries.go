package bot

import (
	"net"
	"strings"
)

// RegistryConfig is how deploybot signs in to one container registry
// outside ECR (key: its host, e.g. quay.io or registry.example.com:5000).
type RegistryConfig struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Insecure speaks plain HTTP to the registry; loopback hosts always are.
	Insecure bool `yaml:"insecure"`
}

func (c *Config) validateRegistries() []*ConfigError {
	var errs []*ConfigError
	for host, r := range c.Registries {
		key := "registries." + host
		switch {
		case r == nil:
			errs = append(errs, &ConfigError{Key: key, Message: "is empty"})
		case IsECRRegistry(host):
			errs = append(errs, &ConfigError{Key: key, Message: "ECR is signed in to with the AWS credentials; remove this entry"})
		case (r.Username == "") != (r.Password == ""):
			errs = append(errs, &ConfigError{Key: key + ".password", Message: "set username and password together"})
		}
	}
	return errs
}

// IsECRRegistry reports whether host is a private Amazon ECR registry
// (123456789012.dkr.ecr.us-east-1.amazonaws.com), whose images are found
// with ECR's own API and the environment's AWS credentials.
func IsECRRegistry(host string) bool {
	id, rest, ok := strings.Cut(host, ".")
	if !ok || len(id) != 12 || strings.Trim(id, "0123456789") != "" {
		return false
	}
	return strings.HasPrefix(rest, "dkr.ecr.") && (strings.HasSuffix(rest, ".amazonaws.com") || strings.HasSuffix(rest, ".amazonaws.com.cn"))
}

// IsLoopbackRegistry reports whether host (with or without a port) is
// this machine, where a registry is spoken to over plain HTTP.
func IsLoopbackRegistry(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
