package ghclient

import (
	"testing"

	"github.com/deploybot/deploybot/bot"
)

func TestPermissionMapping(t *testing.T) {
	for _, tc := range []struct {
		level permissionLevel
		want  string
	}{
		{permissionLevel{Permission: "write", RoleName: "maintain"}, bot.PermissionMaintain},
		{permissionLevel{Permission: "read", RoleName: "triage"}, bot.PermissionTriage},
		{permissionLevel{Permission: "admin", RoleName: "admin"}, bot.PermissionAdmin},
		// Older GitHub Enterprise servers send no role_name.
		{permissionLevel{Permission: "write"}, bot.PermissionWrite},
		{permissionLevel{Permission: "read"}, bot.PermissionRead},
		// A custom role is as good as the base role it extends.
		{permissionLevel{Permission: "write", RoleName: "deployer"}, bot.PermissionWrite},
		{permissionLevel{Permission: "none", RoleName: "none"}, bot.PermissionNone},
		// What is not understood grants nothing.
		{permissionLevel{Permission: "superuser", RoleName: "root"}, bot.PermissionNone},
		{permissionLevel{}, bot.PermissionNone},
	} {
		if got := permission(tc.level); got != tc.want {
			t.Errorf("permission(%+v) = %q; want %q", tc.level, got, tc.want)
		}
	}
}

func TestValidLogin(t *testing.T) {
	for login, want := range map[string]bool{
		"octocat": true, "Octo-Cat": true, "a": true, "deploybot[bot]": true, "jdoe_acme": true,
		"": false, "[bot]": false, "-x": false, "a/b": false, "a b": false, "..": false,
		"a%2fb": false, "a?b": false, "a#b": false, "é": false,
	} {
		if got := validLogin(login); got != want {
			t.Errorf("validLogin(%q) = %v; want %v", login, got, want)
		}
	}
}
