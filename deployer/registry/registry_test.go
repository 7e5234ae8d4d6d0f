package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/registry"
	"github.com/deploybot/deploybot/emulator/registryemu"
)

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth registryemu.Auth
	}{
		{"anonymous", registryemu.Anonymous},
		{"basic", registryemu.Basic},
		{"token", registryemu.Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registryemu.Start(tc.auth, "acme+deploybot", "s3cret-pass")
			t.Cleanup(reg.Close)
			want, err := reg.Push("acme/api", "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			im := registry.New(map[string]*bot.RegistryConfig{reg.Host(): {Username: "acme+deploybot", Password: "s3cret-pass"}})
			got, err := im.Resolve(context.Background(), reg.Host()+"/acme/api", "v1.2.3", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || !strings.HasPrefix(got, "sha256:") {
				t.Errorf("digest %s, want %s", got, want)
			}
		})
	}
}

func TestResolveMissingTag(t *testing.T) {
	reg := registryemu.Start(registryemu.Token, "u", "p")
	t.Cleanup(reg.Close)
	if _, err := reg.Push("acme/api", "v1"); err != nil {
		t.Fatal(err)
	}
	im := registry.New(map[string]*bot.RegistryConfig{reg.Host(): {Username: "u", Password: "p"}})
	for _, image := range []string{reg.Host() + "/acme/api", reg.Host() + "/acme/nothing"} {
		_, err := im.Resolve(context.Background(), image, "v2", nil)
		if bot.ErrorCode(err) != bot.ENOTFOUND || !strings.Contains(bot.ErrorMessage(err), image+":v2 not found") {
			t.Errorf("%s:v2: %v, want not found naming the tag", image, err)
		}
	}
}

func TestResolveRefusedCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth registryemu.Auth
		cfg  *bot.RegistryConfig
	}{
		{"basic wrong password", registryemu.Basic, &bot.RegistryConfig{Username: "u", Password: "wrong-password"}},
		{"token wrong password", registryemu.Token, &bot.RegistryConfig{Username: "u", Password: "wrong-password"}},
		{"basic none", registryemu.Basic, nil},
		{"token none", registryemu.Token, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registryemu.Start(tc.auth, "u", "p")
			t.Cleanup(reg.Close)
			if _, err := reg.Push("acme/api", "v1"); err != nil {
				t.Fatal(err)
			}
			im := registry.New(map[string]*bot.RegistryConfig{reg.Host(): tc.cfg})
			_, err := im.Resolve(context.Background(), reg.Host()+"/acme/api", "v1", nil)
			msg := bot.ErrorMessage(err)
			if bot.ErrorCode(err) != bot.EFORBIDDEN || !strings.Contains(msg, "registry "+reg.Host()+" refused") {
				t.Fatalf("got %v, want refused naming the registry", err)
			}
			if strings.Contains(msg, "wrong-password") {
				t.Errorf("the message shows the password: %s", msg)
			}
			if tc.cfg != nil && reg.Refused() == 0 {
				t.Error("the registry never saw the credentials it refused")
			}
		})
	}
}

func TestResolveUnreachableRegistry(t *testing.T) {
	reg := registryemu.Start(registryemu.Anonymous, "", "")
	host := reg.Host()
	reg.Close()
	_, err := registry.New(nil).Resolve(context.Background(), host+"/acme/api", "v1", nil)
	if bot.ErrorCode(err) != bot.EUNAVAILABLE || !strings.Contains(bot.ErrorMessage(err), host) {
		t.Errorf("got %v, want unavailable naming %s", err, host)
	}
}

func TestResolveRegistryThatNeverAnswers(t *testing.T) {
	// It takes the connection and holds every request until the client
	// gives up; the test server's Close then waits for the handlers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := registry.New(nil, registry.WithTimeout(50*time.Millisecond)).Resolve(context.Background(), host+"/acme/api", "v1", nil)
	if bot.ErrorCode(err) != bot.EUNAVAILABLE || !strings.Contains(bot.ErrorMessage(err), "did not answer") {
		t.Errorf("got %v, want unavailable: did not answer", err)
	}
}

// BenchmarkResolve is one image check against a loopback registry, per
// auth kind: go-containerregistry pings /v2/ and, for a token challenge,
// fetches a token on every Resolve before its HEAD of the manifest.
func BenchmarkResolve(b *testing.B) {
	for _, tc := range []struct {
		name string
		auth registryemu.Auth
	}{{"anonymous", registryemu.Anonymous}, {"basic", registryemu.Basic}, {"token", registryemu.Token}} {
		b.Run(tc.name, func(b *testing.B) {
			reg := registryemu.Start(tc.auth, "u", "p")
			defer reg.Close()
			if _, err := reg.Push("acme/api", "v1"); err != nil {
				b.Fatal(err)
			}
			im := registry.New(map[string]*bot.RegistryConfig{reg.Host(): {Username: "u", Password: "p"}})
			for b.Loop() {
				if _, err := im.Resolve(context.Background(), reg.Host()+"/acme/api", "v1", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
