package handlers

import (
	"net/url"
	"strconv"

	"github.com/deploybot/deploybot/bot"
)

// The history on the dashboard's front page can be narrowed by the same
// app, env and state parameters as /api/deployments, so a filtered page
// polls the API answer it shows.

// filterGroup is one row of the filter bar: "All" and each value.
type filterGroup struct {
	Name  string // the query parameter
	Links []filterLink
}

type filterLink struct {
	Label  string
	URL    string
	Active bool
}

// filterStates are the states offered in the bar; the API takes any.
var filterStates = []string{"in_flight", string(bot.StateSucceeded), string(bot.StateFailed), string(bot.StateCancelled), string(bot.StateRolledBack)}

// historyQuery is the API query a page filtered by q shows: only the
// parameters it understands, so that an unrelated one cannot change the
// poll URL (and with it the ETag) of an otherwise equal page.
func historyQuery(q url.Values, limit int) url.Values {
	out := url.Values{}
	for _, k := range []string{"app", "env", "state"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	out.Set("limit", strconv.Itoa(limit))
	return out
}

// filterBar builds the links of each group: each keeps the other
// groups' choices and sets its own.
func filterBar(q url.Values, apps, envs []string) []filterGroup {
	group := func(name string, values []string) filterGroup {
		g := filterGroup{Name: name}
		for _, v := range append([]string{""}, values...) {
			next := url.Values{}
			for _, k := range []string{"app", "env", "state"} {
				if k != name && q.Get(k) != "" {
					next.Set(k, q.Get(k))
				}
			}
			label := v
			if v == "" {
				label = "all"
			} else {
				next.Set(name, v)
			}
			link := "/"
			if len(next) > 0 {
				link += "?" + next.Encode()
			}
			g.Links = append(g.Links, filterLink{Label: label, URL: link, Active: q.Get(name) == v})
		}
		return g
	}
	return []filterGroup{group("app", apps), group("env", envs), group("state", filterStates)}
}

// filtered reports whether q narrows the history.
func filtered(q url.Values) bool {
	return q.Get("app") != "" || q.Get("env") != "" || q.Get("state") != ""
}
