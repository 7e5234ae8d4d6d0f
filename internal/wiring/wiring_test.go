package wiring

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// What Start cannot open it names; after the refusals the same store
// starts a bot on Options.Listen, which overrides the config's listen.
func TestStartRefusesWhatItCannotOpen(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "deploybot.db")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		cfg  bot.Config
		want string
	}{
		{"missing key file", bot.Config{Store: dsn, Listen: "127.0.0.1:0",
			GitHub: bot.GitHubConfig{AppID: 1, PrivateKeyFile: filepath.Join(t.TempDir(), "absent.pem")}}, "github.private_key_file"},
		{"address in use", bot.Config{Store: dsn, Listen: taken.Addr().String(),
			GitHub: bot.GitHubConfig{Token: "ghp_x"}, AWS: bot.AWSConfig{Region: "us-east-1"}}, "listen on " + taken.Addr().String()},
		{"no such store", bot.Config{Store: "sqlite:" + filepath.Join(t.TempDir(), "absent", "dir", "x.db"), Listen: "127.0.0.1:0"}, "absent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Start(ctx, &tc.cfg, Options{})
			if err == nil {
				in.Close(ctx)
				t.Fatalf("Start succeeded; want an error naming %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v; want it to name %q", err, tc.want)
			}
		})
	}
	cfg := bot.Config{Store: dsn, Listen: taken.Addr().String(), GitHub: bot.GitHubConfig{Token: "ghp_x"}, AWS: bot.AWSConfig{Region: "us-east-1"}}
	in, err := Start(ctx, &cfg, Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Start after the refusals: %v", err)
	}
	if !strings.HasPrefix(in.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q; want Options.Listen's loopback address", in.URL)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
