package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// unservedRepo is a repository deploybot has no app for: an App installed
// on a whole organisation hears its comments too.
const unservedRepo = "ackload/docs"

// checkRunGenerator sends GitHub's example check_run event (completed)
// for the served repository and the commit every deployment waits on: the
// flood CI sends while deploybot only has to note the commit.
func (w *world) checkRunGenerator() (generator, error) {
	const corpusHeadSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	path, raw, err := corpusPayload("check_run", "completed.payload.json")
	if err != nil {
		return generator{}, err
	}
	for _, must := range []string{corpusHeadSHA, corpusRepo} {
		if !strings.Contains(string(raw), must) {
			return generator{}, fmt.Errorf("%s: no %s to rewrite", path, must)
		}
	}
	body := []byte(strings.NewReplacer(corpusHeadSHA, w.sha, corpusRepo, repo).Replace(string(raw)))
	return generator{
		request:  func(base string, _ int) (*http.Request, error) { return webhookRequest(base, "check_run", body) },
		accepted: acceptedWebhook,
	}, nil
}

// commentSize is the size of the comment payloads: GitHub's example, on a
// pull request whose description is a few screens long.
const commentSize = 15_800

// commentGenerator sends plain pull-request comments in repository r:
// GitHub's example issue_comment created event with the body "looks good
// to me", the issue made a pull request (as GitHub marks one), and its
// description padded with a realistic one up to commentSize bytes. Each
// comment has an id of its own, across generators: deploybot handles a
// comment at most once.
func (w *world) commentGenerator(r string) (generator, error) {
	const (
		corpusCommentID = "492700400"
		corpusComment   = `"body": "You are totally right! I'll get this fixed right away."`
		corpusIssueBody = `"body": "It looks like you accidently spelled 'commit' with two 't's."`
		firstID         = 1_000_000_000 // ten digits for every comment, so each payload is the same size
	)
	path, raw, err := corpusPayload("issue_comment", "created.payload.json")
	if err != nil {
		return generator{}, err
	}
	doc := string(raw)
	for _, must := range []string{corpusCommentID, corpusRepo, corpusComment, corpusIssueBody, `"name": "Hello-World"`} {
		if !strings.Contains(doc, must) {
			return generator{}, fmt.Errorf("%s: no %s to rewrite", path, must)
		}
	}
	issueURL := "https://api.github.com/repos/" + r + "/pulls/1"
	pr := `"pull_request": {"url": "` + issueURL + `", "html_url": "https://github.com/` + r + `/pull/1", "diff_url": "https://github.com/` + r + `/pull/1.diff", "patch_url": "https://github.com/` + r + `/pull/1.patch", "merged_at": null},
    `
	doc = strings.NewReplacer(
		corpusRepo, r,
		`"name": "Hello-World"`, `"name": "`+r[strings.Index(r, "/")+1:]+`"`,
		corpusComment, `"body": "looks good to me"`,
		corpusIssueBody, pr+`"body": `+issueBodyPlaceholder,
	).Replace(doc)
	// The description fills what is left to commentSize.
	withoutBody := len(strings.Replace(doc, corpusCommentID, strconv.Itoa(firstID), -1)) - len(issueBodyPlaceholder)
	description, err := prDescription(commentSize - withoutBody)
	if err != nil {
		return generator{}, err
	}
	doc = strings.Replace(doc, issueBodyPlaceholder, description, 1)
	template := strings.Split(doc, corpusCommentID)
	if err := checkComment(template, r, firstID); err != nil {
		return generator{}, fmt.Errorf("%s: %w", path, err)
	}
	return generator{
		request: func(base string, _ int) (*http.Request, error) {
			id := firstID + int(w.comments.Add(1))
			return webhookRequest(base, "issue_comment", []byte(strings.Join(template, strconv.Itoa(id))))
		},
		accepted: acceptedWebhook,
	}, nil
}

const issueBodyPlaceholder = "ISSUE_BODY"

// prDescription is a JSON string of exactly size bytes: a pull request's
// description of the usual shape (summary, changes, testing, checklist),
// its paragraphs repeated as far as needed.
func prDescription(size int) (string, error) {
	paragraphs := []string{
		"## Summary\r\n\r\nFixes the spelling of 'commit' in the README and in the contributing guide, where it was written with two 't's in several places. While there, the install section is brought up to date with the current release process.\r\n\r\n",
		"## Changes\r\n\r\n- README.md: spelling, the install section now points at the release page instead of the old download script\r\n- CONTRIBUTING.md: spelling; the commit message convention is spelled out with an example\r\n- docs/release.md: the checklist matches what the release job does since #412\r\n\r\n",
		"## Testing\r\n\r\n- [x] `make docs` builds without warnings\r\n- [x] the links checker passes (`make linkcheck`)\r\n- [ ] rendered on the staging site (waiting for the preview deployment)\r\n\r\n",
		"## Notes for reviewers\r\n\r\nThe diff is larger than the fix because the editor normalised trailing whitespace in the files it touched; `git diff -w` shows only the real changes. No code changes, so no changelog entry.\r\n\r\n",
	}
	var b strings.Builder
	for i := 0; ; i++ {
		enc, _ := json.Marshal(b.String())
		if len(enc) >= size {
			break
		}
		b.WriteString(paragraphs[i%len(paragraphs)])
	}
	// Trim to size, one character at a time: escapes make the encoded
	// length grow in steps.
	s := b.String()
	for len(s) > 0 {
		enc, _ := json.Marshal(s)
		if len(enc) == size {
			return string(enc), nil
		}
		if len(enc) < size {
			break
		}
		s = s[:len(s)-1]
	}
	return "", fmt.Errorf("cannot make a description of %d bytes", size)
}

// checkComment decodes one comment payload to make sure deploybot will
// read it as a new comment on a pull request, by a person, in repository r.
func checkComment(template []string, r string, id int) error {
	body := strings.Join(template, strconv.Itoa(id))
	var ev struct {
		Action string `json:"action"`
		Issue  struct {
			PullRequest *struct{} `json:"pull_request"`
		} `json:"issue"`
		Comment struct {
			ID   int    `json:"id"`
			Body string `json:"body"`
			User struct {
				Type string `json:"type"`
			} `json:"user"`
		} `json:"comment"`
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return err
	}
	if ev.Action != "created" || ev.Issue.PullRequest == nil || ev.Comment.ID != id || ev.Comment.Body != "looks good to me" ||
		ev.Comment.User.Type != "User" || ev.Repository.FullName != r || len(body) != commentSize {
		return fmt.Errorf("rewritten comment payload reads %+v, %d bytes", ev, len(body))
	}
	return nil
}

// acceptedWebhook takes any 2xx as the acknowledgement of an event that
// deploys nothing.
func acceptedWebhook(status int, body []byte) (int64, error) {
	if status/100 != 2 {
		return 0, fmt.Errorf("HTTP %d: %.200s", status, strings.TrimSpace(string(body)))
	}
	return 0, nil
}
