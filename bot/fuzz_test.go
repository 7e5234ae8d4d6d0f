package bot

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// Run one with: go test -run='^$' -fuzz=FuzzParseSlackCommand -fuzztime=5s ./bot
func FuzzParseSlackCommand(f *testing.F) {
	for _, s := range []string{
		"", " ", "help", "HELP me", "apps", "apps web",
		"takumi-server cf7edb2 dev", "takumi-server v1.2.3 to dev", "web main TO prod",
		"web to dev", "web main to", "web main from dev", "a b c d e",
		"status web", "status web prod", "history web", "history web dev extra",
		"lock web prod", "lock web prod 2h release freeze", "lock web prod for 1h30m why",
		"lock web prod 0m", "lock web prod 1.5d", "lock web prod 99999999999999999999h",
		"unlock web prod", "rollback web prod", "rollback web",
		"cancel 42", "cancel #42", "cancel -1", "cancel #", "cancel 99999999999999999999",
		"web <http://release.sh|release.sh> dev", "<@U1|bob> main dev", "&lt;!channel&gt; main dev",
		"lock web prod Q&amp;A &lt;x&gt;", "web\u00a0main\u00a0dev", "web\u200bmain dev",
		"wéb main dev", "web fix/ünïcode dev", "loc\u212a web prod", "\xff\xfe main dev",
		"web --force dev", "web main..dev prod", "web `main` dev", "a\x00b c d", "loCk 0 0 \xe0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := ParseSlackCommand(text)
		if again := ParseSlackCommand(text); again != got {
			t.Fatalf("ParseSlackCommand(%q) is not deterministic (-first +second):\n%s", text, cmp.Diff(got, again))
		}
		checkSlackCommand(t, text, got)
		if got.Kind == CommandHelp {
			return
		}
		// What the parser understood, written back as plain text, must
		// read the same.
		if again := ParseSlackCommand(slackCommandText(got)); again != got {
			t.Fatalf("ParseSlackCommand(%q) = %+v, but its text %q reads differently (-reread +first):\n%s", text, got, slackCommandText(got), cmp.Diff(again, got))
		}
	})
}

func checkSlackCommand(t *testing.T, text string, c Command) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("ParseSlackCommand(%q) = %+v: "+format, append([]any{text, c}, args...)...)
	}
	word := func(field, s string, required bool) {
		t.Helper()
		if s == "" {
			if required {
				fail("%s is empty", field)
			}
			return
		}
		if strings.IndexFunc(s, unicode.IsSpace) >= 0 || !utf8.ValidString(s) {
			fail("%s %q has white space or is not UTF-8", field, s)
		}
		if field != "Ref" && !validName(s) {
			fail("%s %q is not a valid name", field, s)
		}
		if field == "Ref" && !typedRef(s) {
			fail("Ref %q is not a valid ref", s)
		}
	}
	if c.Kind == CommandHelp {
		if c.Reply != SlackUsage && (strings.Count(c.Reply, "\n") != 1 || !strings.HasSuffix(c.Reply, "`/deploy help` lists every command.")) {
			fail("a help reply must be the usage, or one line of error and one of hint")
		}
		if !utf8.ValidString(c.Reply) {
			fail("reply is not UTF-8")
		}
		if (c != Command{Kind: CommandHelp, Reply: c.Reply}) {
			fail("a help reply carries other fields")
		}
		return
	}
	if c.Reply != "" {
		fail("kind %q with a Reply", c.Kind)
	}
	want := Command{Kind: c.Kind}
	switch c.Kind {
	case CommandDeploy:
		word("App", c.App, true)
		word("Ref", c.Ref, true)
		word("Env", c.Env, true)
		want.App, want.Ref, want.Env = c.App, c.Ref, c.Env
	case CommandStatus, CommandHistory, CommandStats:
		word("App", c.App, true)
		word("Env", c.Env, false)
		want.App, want.Env = c.App, c.Env
	case CommandLock:
		word("App", c.App, true)
		word("Env", c.Env, true)
		if c.For < 0 || c.For > MaxLockDuration {
			fail("lock duration out of range")
		}
		if c.Reason != strings.TrimSpace(c.Reason) || strings.ContainsAny(c.Reason, "\r\n") || !utf8.ValidString(c.Reason) {
			fail("reason %q is not one trimmed line of UTF-8", c.Reason)
		}
		want.App, want.Env, want.For, want.Reason = c.App, c.Env, c.For, c.Reason
	case CommandUnlock, CommandRollback:
		word("App", c.App, true)
		word("Env", c.Env, true)
		want.App, want.Env = c.App, c.Env
	case CommandCancel:
		if c.ID <= 0 {
			fail("cancel without a positive id")
		}
		want.ID = c.ID
	case CommandApps:
	default:
		fail("unknown kind %q", c.Kind)
	}
	if c != want {
		fail("fields set that %s does not use", c.Kind)
	}
}

// slackCommandText writes c the way Slack would send it.
func slackCommandText(c Command) string {
	parts := []string{string(c.Kind)}
	switch c.Kind {
	case CommandDeploy:
		return c.App + " " + c.Ref + " " + c.Env
	case CommandCancel:
		parts = append(parts, "#"+strconv.FormatInt(c.ID, 10))
	default:
		parts = append(parts, c.App, c.Env)
	}
	if c.For > 0 {
		parts = append(parts, c.For.String())
	}
	parts = append(parts, slackEscape.Replace(c.Reason))
	return strings.Join(parts, " ")
}

// Run one with: go test -run='^$' -fuzz=FuzzParseComment -fuzztime=5s ./bot
func FuzzParseComment(f *testing.F) {
	for _, s := range []string{
		"", "\r\n", "deploy to dev", "deploy takumi-server to dev", "/deploy to dev", ".deploy web to prod",
		"DEPLOY Web TO Prod", "deploy to dev \t", "deploy to dev\r\nthanks", "\r\n\r\ndeploy to dev",
		"\ufeffdeploy to dev", "   deploy to dev", "    deploy to dev", "\tdeploy to dev", "deploy\u00a0to\u00a0dev",
		"LGTM\ndeploy to prod", "> deploy to prod", ">deploy to prod", "```\ndeploy to prod\n```", "~~~\ndeploy to prod",
		"`deploy to prod`", "- deploy to prod", "please deploy to prod", "//deploy to dev", "deployment to prod",
		"deploy", "deploy to", "deploy web to", "deploy to dev please", "deploy web to dev and prod",
		"deploy to dév", "deploy to dev,", "/deploy web main dev", "/ deploy to dev", "deploy to to dev",
		"deploy\rto dev", "deploy to dev\rdeploy to prod", "\xffdeploy to dev", "ｄｅｐｌｏｙ to dev",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := ParseComment(body)
		checkComment(t, body, got)

		// Only the first non-blank line counts.
		if firstNonBlankLine(body) != "" {
			if later := ParseComment(body + "\ndeploy to prod"); later != got {
				t.Fatalf("a second line changed the result of %q (-with +without):\n%s", body, cmp.Diff(later, got))
			}
		}
		// Quotes, fences and indented code never deploy, whatever follows.
		for _, p := range []string{">", "> ", "```", "~~~", "    ", "\t", " \t"} {
			b := p + body
			first, _, _ := strings.Cut(strings.ReplaceAll(b, "\r", "\n"), "\n")
			if strings.TrimSpace(first) == "" {
				continue // a blank first line is skipped; the next one counts
			}
			c := ParseComment(b)
			if c.Kind == CommentDeploy {
				t.Fatalf("ParseComment(%q) = %+v, want no deploy", b, c)
			}
			checkComment(t, b, c)
		}
	})
}

var lineBreak = regexp.MustCompile(`\r\n|\r|\n`)

func checkComment(t *testing.T, body string, c CommentCommand) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("ParseComment(%q) = %+v: "+format, append([]any{body, c}, args...)...)
	}
	switch c.Kind {
	case CommentIgnore:
		if (c != CommentCommand{Kind: CommentIgnore}) {
			fail("ignore with fields set")
		}
	case CommentReply:
		if !strings.HasSuffix(c.Reply, CommentUsage) || c.App != "" || c.Env != "" || !utf8.ValidString(c.Reply) {
			fail("a reply must be UTF-8, end with the usage and carry nothing else")
		}
	case CommentDeploy:
		if c.Reply != "" || !validName(c.Env) || c.App != "" && !validName(c.App) {
			fail("a deploy needs a valid env, an empty or valid app and no reply")
		}
		// Find the first non-blank line independently of the parser.
		var first string
		for _, l := range lineBreak.Split(strings.TrimPrefix(body, "\ufeff"), -1) {
			if strings.TrimSpace(l) != "" {
				first = l
				break
			}
		}
		trimmed := strings.TrimLeft(strings.ReplaceAll(first, "\u00a0", " "), " ")
		switch {
		case strings.HasPrefix(first, "    "):
			fail("deployed from an indented code block")
		case strings.HasPrefix(strings.TrimLeft(first, " "), "\t"):
			fail("deployed from a tab-indented line")
		case strings.HasPrefix(trimmed, ">"), strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fail("deployed from a quote or a code fence")
		}
		if k := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(trimmed, "/"), ".")); !strings.HasPrefix(k, "deploy") {
			fail("deployed from a first line %q that does not start with deploy", first)
		}
	default:
		fail("unknown kind %q", c.Kind)
	}
}
