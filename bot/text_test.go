package bot

import (
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/emulator/githubemu"
)

// hostile are names and reasons as an attacker would choose them: they
// come from CI (check run names), from requesters (lock reasons, refs)
// and from AWS.
var hostile = []string{
	"lint @acme/security-team [Approve here](https://evil.example)",
	"<!channel> <https://evil.example|click> &amp; <@U123>",
	"<img src=x onerror=alert(1)> <script>alert(1)</script> <!-- hidden -->",
	"**bold** _it_ ~~gone~~ `code` ``two`` ![img](https://evil.example/x.png)",
	"see www.evil.example or https://evil.example/a_b or mail me@evil.example",
	"fixes #12 and acme/repo#3, cc @octocat",
	"# heading\n- list\n> quote\n1. one\n| a | b |\n|---|---|",
	"- item", "+ item", "  * item", "1. one", "12) twelve", "---", "===", "> quote", "## h2", "    indented",
	"\\[escaped\\](https://evil.example) &#64;octocat &lt;b&gt;",
	"`", "``", "a`b", "` x `", " lead", "trail ", "",
	"[x]: https://evil.example\n[x]",
	"<https://evil.example>",
}

func TestGitHubTextIsInert(t *testing.T) {
	for _, s := range hostile {
		r := githubemu.RenderMarkdown("Failed: " + githubText(s))
		if len(r.Links) > 0 || len(r.Mentions) > 0 || slices.ContainsFunc(r.Tags, func(tag string) bool { return tag != "p" }) {
			t.Errorf("githubText(%q) = %q renders %s: links %q, mentions %q, tags %q", s, githubText(s), r.HTML, r.Links, r.Mentions, r.Tags)
		}
		if want := strings.TrimSpace("Failed: " + oneLine(s)); r.Text != want {
			t.Errorf("githubText(%q) shows %q, want %q", s, r.Text, want)
		}
		// At the start of a line, where lists, headings and code blocks begin.
		r = githubemu.RenderMarkdown(githubText(s))
		if len(r.Links) > 0 || len(r.Mentions) > 0 || slices.ContainsFunc(r.Tags, func(tag string) bool { return tag != "p" }) {
			t.Errorf("githubText(%q) = %q on a line of its own renders %s", s, githubText(s), r.HTML)
		}
		if want := strings.TrimSpace(oneLine(s)); strings.TrimSpace(r.Text) != want {
			t.Errorf("githubText(%q) on a line of its own shows %q, want %q", s, r.Text, want)
		}
	}
}

func TestGitHubCodeShowsTheWholeName(t *testing.T) {
	for _, s := range hostile {
		r := githubemu.RenderMarkdown("Failed: " + githubCode(s))
		if len(r.Links) > 0 || len(r.Mentions) > 0 || !slices.Equal(r.Tags, []string{"p", "code"}) {
			t.Errorf("githubCode(%q) = %q renders %s: links %q, mentions %q, tags %q", s, githubCode(s), r.HTML, r.Links, r.Mentions, r.Tags)
			continue
		}
		want := oneLine(s)
		if strings.Trim(want, " ") == "" {
			want = " " + want + " " // all spaces: Markdown strips nothing
		}
		if r.Code[0] != want {
			t.Errorf("githubCode(%q) shows the code %q, want %q", s, r.Code[0], want)
		}
	}
}

func TestSlackTextIsInert(t *testing.T) {
	for _, s := range hostile {
		got := slackText(s)
		if strings.ContainsAny(got, "<>\n") {
			t.Errorf("slackText(%q) = %q: Slack reads markup in it", s, got)
		}
		if back := slackUnescape.Replace(got); back != oneLine(s) {
			t.Errorf("slackText(%q) shows %q", s, back)
		}
	}
}

// One reason, three media: names are code in Slack and on GitHub, every
// argument is quoted for each, and plain text is left as it is.
func TestTextRendersPerMedium(t *testing.T) {
	check := "lint @acme/security-team [Approve here](https://evil.example)"
	reason := Textf("CI failed for %s: %v", "cf7edb2", failedChecks([]Check{{Name: check, State: CheckFailure}, {Name: "<!channel>", State: CheckFailure}}))

	if got, want := reason.Plain(), "CI failed for cf7edb2: "+check+" (failure), <!channel> (failure)"; got != want {
		t.Errorf("Plain() = %q, want %q", got, want)
	}
	if got, want := reason.Slack(), "CI failed for cf7edb2: `lint @acme/security-team [Approve here](https://evil.example)` (failure), `&lt;!channel&gt;` (failure)"; got != want {
		t.Errorf("Slack() = %q, want %q", got, want)
	}
	r := githubemu.RenderMarkdown(reason.GitHub())
	if len(r.Links) > 0 || len(r.Mentions) > 0 {
		t.Errorf("GitHub() = %q links %q and mentions %q", reason.GitHub(), r.Links, r.Mentions)
	}
	if !slices.Equal(r.Code, []string{check, "<!channel>"}) || r.Text != reason.Plain() {
		t.Errorf("GitHub() shows %q with code %q; want %q with the check names as code", r.Text, r.Code, reason.Plain())
	}

	lock := Errorf(EFORBIDDEN, "%v", describeLock(&EnvLock{App: "web", Env: "prod", Owner: "slack:U1", Reason: "<!channel> see @acme/sre"}, "is locked"))
	if got, want := ErrorText(lock).Slack(), "web prod is locked by <@U1>: &lt;!channel&gt; see @acme/sre"; got != want {
		t.Errorf("lock refusal in Slack = %q, want %q", got, want)
	}
	if r := githubemu.RenderMarkdown(ErrorText(lock).GitHub()); len(r.Mentions) > 0 || r.Text != ErrorMessage(lock) {
		t.Errorf("lock refusal on GitHub = %q, mentions %q; want %q, mentioning nobody", r.Text, r.Mentions, ErrorMessage(lock))
	}
	// Escaping is for what needs it: plain words stay plain in the source.
	if got, want := ErrorText(lock).GitHub(), "web prod is locked by slack:U1: "; !strings.HasPrefix(got, want) {
		t.Errorf("lock refusal on GitHub = %q, want it to start %q", got, want)
	}
}
