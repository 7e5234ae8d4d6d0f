package bot

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is something deploybot says to people, kept apart from how each
// medium shows it, because one sentence ("CI failed for cf7edb2: lint")
// goes to Slack, to a pull request and to a GitHub deployment status.
// Its format is ours and plain: it holds no markup of any medium. Its
// arguments may come from anyone (a requester, CI, AWS), and rendering
// quotes each for the medium it lands in: Slack mrkdwn through slackText,
// GitHub Markdown through githubText, plain text as it is. A Name argument
// is shown as code, a requester (person) as a Slack mention. So a check
// run named "lint @acme/security [Approve](https://evil.example)"
// mentions, links and formats nothing anywhere.
type Text struct {
	format string
	args   []any
}

// Textf returns the Text of format (fmt verbs) and args.
func Textf(format string, args ...any) Text { return Text{format: format, args: args} }

// Name marks an argument of Textf or Errorf as a name (of a check, a ref)
// that is shown as code.
type Name string

// person marks an argument as a requester: slack:U1, github:login.
type person string

// Plain renders t as plain text: for GitHub deployment statuses (which
// GitHub shows as text), the store, logs and the terminal.
func (t Text) Plain() string { return t.render(plainText) }

// Slack renders t as Slack mrkdwn.
func (t Text) Slack() string { return t.render(slackMrkdwn) }

// GitHub renders t as GitHub Markdown, for comments.
func (t Text) GitHub() string { return githubLineStart(t.render(githubMarkdown)) }

func (t Text) String() string { return t.Plain() }

// medium is how one place shows text: how it quotes text and code, and
// how it names a requester.
type medium struct {
	text   func(string) string
	code   func(string) string
	person func(string) string
}

var (
	plainText      = medium{text: identity, code: identity, person: identity}
	slackMrkdwn    = medium{text: slackText, code: slackCode, person: requesterMention}
	githubMarkdown = medium{text: githubInline, code: githubCode, person: githubInline}
)

func identity(s string) string { return s }

// argMark brackets an argument's place in the formatted string; the format
// is ours and never holds it.
const argMark = "\x00"

// render formats t with every argument replaced by a mark, then quotes
// the format's own words and each argument for m: the format is plain
// text too, so that a '#' or a '<' in it means the same everywhere.
func (t Text) render(m medium) string {
	if t.format == "" {
		return ""
	}
	var values []string
	args := make([]any, len(t.args))
	for i, a := range t.args {
		args[i] = slot{m: m, arg: a, values: &values}
	}
	parts := strings.Split(fmt.Sprintf(strings.ReplaceAll(t.format, argMark, ""), args...), argMark)
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 0 {
			b.WriteString(m.text(p))
			continue
		}
		if n, err := strconv.Atoi(p); err == nil && n < len(values) {
			b.WriteString(values[n])
		}
	}
	return b.String()
}

// slot stands for one argument while the format is applied: it renders
// the argument for the medium, keeps the result and leaves a mark.
type slot struct {
	m      medium
	arg    any
	values *[]string
}

func (s slot) Format(f fmt.State, verb rune) {
	var v string
	switch a := s.arg.(type) {
	case Text:
		v = a.render(s.m)
	case Name:
		v = s.m.code(string(a))
	case person:
		v = s.m.person(string(a))
	default:
		v = s.m.text(fmt.Sprintf(fmt.FormatString(f, verb), a))
	}
	*s.values = append(*s.values, v)
	fmt.Fprintf(f, "%s%d%s", argMark, len(*s.values)-1, argMark)
}

// joinText joins parts with sep, which is ours and plain like a format.
func joinText(parts []Text, sep string) Text {
	args := make([]any, len(parts))
	for i, p := range parts {
		args[i] = p
	}
	sep = strings.ReplaceAll(sep, "%", "%%")
	return Textf(strings.TrimSuffix(strings.Repeat("%v"+sep, len(parts)), sep), args...)
}

// oneLine makes text from elsewhere fit inside one line of a message:
// valid UTF-8, and control characters (line breaks too, which could start
// a heading, a list or a fake message line) become spaces.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// slackText is the one escaping of text for Slack mrkdwn: &, < and > as
// Slack asks, so that <!channel>, <@U1> and <https://x|label> stay text.
func slackText(s string) string {
	return slackEscape.Replace(oneLine(s))
}

// slackCode quotes text for a Slack mrkdwn reply as code: valid UTF-8, no
// control characters or backticks (a Slack code span cannot hold one), at
// most 80 characters, escaped by slackText.
func slackCode(s string) string {
	return "`" + slackText(quotable(s)) + "`"
}

var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// zeroWidthSpace, written after an @ or a #, or inside ://, keeps GitHub
// from reading a mention, an issue reference or a link there, and shows
// nothing.
const zeroWidthSpace = "&#8203;"

// markdownInline are the characters with a meaning in Markdown anywhere
// in a line (emphasis, code, links and images, strike-through, tables);
// each is written backslash-escaped. The others (list and heading
// markers, ...) count only at the start of a line, see blockMarker.
const markdownInline = "\\`*_[]~|"

// githubText is the one escaping of text for GitHub Markdown: HTML
// special characters as entities; Markdown punctuation backslash-escaped;
// and @-mentions, #-references and bare links (https://…, www.…), which
// GitHub recognises in rendered text and no backslash prevents, broken by
// a zero-width space.
func githubText(s string) string { return githubLineStart(githubInline(s)) }

// githubInline is githubText for a piece of a line: what counts at a
// line's start only is left to githubLineStart.
func githubInline(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '@', r == '#':
			b.WriteRune(r)
			b.WriteString(zeroWidthSpace)
		case r == ':' && strings.HasPrefix(s[i+1:], "//"):
			b.WriteString(":" + zeroWidthSpace)
		case (r == 'w' || r == 'W') && len(s)-i >= 4 && strings.EqualFold(s[i:i+4], "www."):
			b.WriteString(s[i:i+3] + zeroWidthSpace)
			size = 3
		case r < utf8.RuneSelf && strings.ContainsRune(markdownInline, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// githubLineStart escapes what would make the one line s (from
// githubInline) a block other than a paragraph: four leading spaces (a
// code block), or a list, heading-underline or thematic-break marker (-,
// +, =, or the . or ) after an ordered list's number).
func githubLineStart(s string) string {
	if strings.HasPrefix(s, " ") {
		return "&#32;" + s[1:] // the line starts with text now
	}
	if s != "" && strings.IndexByte("-+=", s[0]) >= 0 {
		return "\\" + s
	}
	j := 0
	for j < len(s) && '0' <= s[j] && s[j] <= '9' {
		j++
	}
	if j > 0 && j < len(s) && (s[j] == '.' || s[j] == ')') {
		return s[:j] + "\\" + s[j:]
	}
	return s
}

// githubCode quotes a name for GitHub Markdown as a code span, in which
// nothing is a mention, a link or HTML. The fence is one backtick longer
// than the longest run of backticks in the name, so the name cannot close
// it early; a name that starts or ends with a backtick or a space is
// padded with one space each side, which Markdown strips again. It is
// meant for inside a line, never at its start (three backticks there open
// a code block).
func githubCode(s string) string {
	s = clip(oneLine(s), maxQuoted)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] != '`' {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	if s == "" || s[0] == '`' || s[0] == ' ' || s[len(s)-1] == '`' || s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	fence := strings.Repeat("`", longest+1)
	return fence + s + fence
}

// maxQuoted is how much of a name or a line from elsewhere is quoted.
const maxQuoted = 80

// quotable makes user text safe to quote inside a Slack code span.
func quotable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '`':
			return '\''
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
	return clip(s, maxQuoted)
}

// clip cuts s to max runes, marking the cut.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) > max {
		return string([]rune(s)[:max]) + "…"
	}
	return s
}
