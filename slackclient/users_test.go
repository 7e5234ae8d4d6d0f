package slackclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/emulator/slackemu"
)

func TestUserNameIsTheNamePeopleSeeAndIsCached(t *testing.T) {
	emu, c := setup(t)
	emu.AddUser(slackemu.User{ID: "U024BE7LH", Name: "bobby", RealName: "Bobby Tables", DisplayName: "bob"})
	emu.AddUser(slackemu.User{ID: "U0NODISP", Name: "alice", RealName: "Alice Liddell"})
	ctx := context.Background()
	for id, want := range map[string]string{"U024BE7LH": "bob", "U0NODISP": "Alice Liddell"} {
		for range 3 {
			got, err := c.UserName(ctx, id)
			if err != nil || got != want {
				t.Errorf("UserName(%s) = %q, %v; want %q", id, got, err, want)
			}
		}
	}
	asked := 0
	for _, call := range emu.Calls() {
		if call.Method == "users.info" {
			asked++
		}
	}
	if asked != 2 {
		t.Errorf("users.info asked %d times for 2 users asked about 3 times each, want 2", asked)
	}
	for range 3 {
		if _, err := c.UserName(ctx, "U0GONE"); err == nil || !strings.Contains(err.Error(), "user_not_found") {
			t.Errorf("UserName of an unknown user: %v, want user_not_found", err)
		}
	}
	asked = 0
	for _, call := range emu.Calls() {
		if call.Method == "users.info" {
			asked++
		}
	}
	if asked != 3 {
		t.Errorf("users.info asked %d times after 3 lookups of an unknown user, want 1 more than 2", asked)
	}
}
