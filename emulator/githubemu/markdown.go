package githubemu

import (
	"bytes"
	"html"
	"regexp"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
)

// Rendered is what GitHub makes of a comment body, as far as a reader
// (and whoever gets notified) can tell: the links and HTML elements it
// would show, the people and issues it would mention, the code spans, and
// the visible text.
type Rendered struct {
	HTML     string
	Tags     []string // element names, in order, closing tags left out
	Links    []string // href of each link, autolinks included
	Mentions []string // "@user", "@org/team" and "#12" outside code and links
	Code     []string // the text of each code span
	Text     string   // what is shown: tags removed, entities decoded, zero-width spaces dropped
}

// markdown renders as GitHub does for comments: CommonMark with GitHub's
// extensions (tables, strike-through, bare links), raw HTML passed on (GitHub
// sanitises it, but a tag that gets through is the point of a test).
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
)

var (
	tagRE  = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	hrefRE = regexp.MustCompile(`href="([^"]*)"`)
	// GitHub's mention and reference filters, roughly: an @login or
	// @org/team, or #digits, not preceded by a word character.
	mentionRE = regexp.MustCompile(`(?:^|[^\w` + "`" + `.])(@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w-]*)?|#[0-9]+)`)
	codeRE    = regexp.MustCompile(`(?s)<code>(.*?)</code>`)
	linkRE    = regexp.MustCompile(`(?s)<a\b[^>]*>.*?</a>`)
)

// RenderMarkdown renders body as GitHub would show it in a comment.
func RenderMarkdown(body string) Rendered {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(body), &buf); err != nil {
		panic(err) // goldmark fails only on writer errors
	}
	out := buf.String()
	r := Rendered{HTML: out}
	for _, m := range tagRE.FindAllStringSubmatch(out, -1) {
		if m[1] == "" {
			r.Tags = append(r.Tags, strings.ToLower(m[2]))
		}
		if strings.EqualFold(m[2], "a") && m[1] == "" {
			if h := hrefRE.FindStringSubmatch(m[3]); h != nil {
				r.Links = append(r.Links, html.UnescapeString(h[1]))
			}
		}
	}
	for _, m := range codeRE.FindAllStringSubmatch(out, -1) {
		r.Code = append(r.Code, visible(m[1]))
	}
	outside := linkRE.ReplaceAllString(codeRE.ReplaceAllString(out, " "), " ")
	for _, m := range mentionRE.FindAllStringSubmatch(html.UnescapeString(tagRE.ReplaceAllString(outside, "")), -1) {
		r.Mentions = append(r.Mentions, m[1])
	}
	r.Text = strings.TrimSpace(visible(out))
	return r
}

func visible(h string) string {
	return strings.ReplaceAll(html.UnescapeString(tagRE.ReplaceAllString(h, "")), "\u200b", "")
}
