package bot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseComment(t *testing.T) {
	ignore := CommentCommand{Kind: CommentIgnore}
	deploy := func(app, env string) CommentCommand { return CommentCommand{Kind: CommentDeploy, App: app, Env: env} }
	reply := func(msg string) CommentCommand {
		return CommentCommand{Kind: CommentReply, Reply: msg + "\n\n" + CommentUsage}
	}
	badEnv := func(env string) CommentCommand {
		return reply("`" + env + "` is not an environment name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")
	}
	tests := []struct {
		name string
		body string
		want CommentCommand
	}{
		{"deploy to env", "deploy to dev", deploy("", "dev")},
		{"deploy app to env", "deploy takumi-server to dev", deploy("takumi-server", "dev")},
		{"slash", "/deploy to dev", deploy("", "dev")},
		{"dot", ".deploy web to prod", deploy("web", "prod")},
		{"upper keywords", "DEPLOY Web TO Prod", deploy("Web", "Prod")},
		{"mixed case keywords", "Deploy web To dev", deploy("web", "dev")},
		{"trailing whitespace", "deploy to dev \t ", deploy("", "dev")},
		{"spaces between words", "deploy \t web   to  dev", deploy("web", "dev")},
		{"names with punctuation", "deploy api.v2_x-1 to eu-west-1.stg", deploy("api.v2_x-1", "eu-west-1.stg")},
		{"crlf", "deploy to dev\r\nthanks!", deploy("", "dev")},
		{"lone cr", "deploy to dev\rdeploy to prod", deploy("", "dev")},
		{"leading blank lines", "\r\n  \r\n\tdeploy-free text\n", ignore},
		{"leading crlf then command", "\r\n\r\ndeploy to dev", deploy("", "dev")},
		{"bom", "\ufeffdeploy to dev", deploy("", "dev")},
		{"up to three spaces", "   deploy to dev", deploy("", "dev")},
		{"nbsp", "deploy\u00a0to\u00a0dev\u00a0", deploy("", "dev")},
		{"multi-line second line ignored", "LGTM\ndeploy to prod", ignore},
		{"multi-line crlf second line ignored", "Thanks!\r\ndeploy to prod\r\n", ignore},
		{"multi-line first line wins", "deploy to dev\ndeploy to prod", deploy("", "dev")},

		// never fires
		{"empty", "", ignore},
		{"blank", " \r\n\t\n", ignore},
		{"quoted", "> deploy to prod", ignore},
		{"quoted no space", ">deploy to prod", ignore},
		{"quoted indented", "  > deploy to prod", ignore},
		{"quote reply", "> deploy to prod\r\n\r\nI'd rather not.", ignore},
		{"fence backticks", "```\ndeploy to prod\n```", ignore},
		{"fence tildes", "~~~sh\ndeploy to prod\n~~~", ignore},
		{"fence with info", "```deploy to prod", ignore},
		{"indented code", "    deploy to prod", ignore},
		{"tab indented code", "\tdeploy to prod", ignore},
		{"space tab indented code", "  \tdeploy to prod", ignore},
		{"inline code", "`deploy to prod`", ignore},
		{"list item", "- deploy to prod", ignore},
		{"bold", "**deploy to prod**", ignore},
		{"html comment", "<!-- deploy to prod -->", ignore},
		{"not at start", "please deploy to prod", ignore},
		{"two prefixes", "//deploy to prod", ignore},
		{"other prefix", "!deploy to prod", ignore},
		{"deployment", "deployment to prod worked", ignore},
		{"deploy colon", "deploy: to prod", ignore},
		{"prose", "Deploy failed again, see logs", ignore},
		{"no to", "deploy web dev", ignore},
		{"bare deploy", "deploy", ignore},
		{"fullwidth", "ｄｅｐｌｏｙ to dev", ignore},
		{"unicode prose", "Déployer to prod", ignore},

		// malformed requests get a reply
		{"no env", "deploy to", reply("Deploy to which environment?")},
		{"no env trailing space", "/deploy to  \r\n", reply("Deploy to which environment?")},
		{"app no env", "deploy web to", reply("Deploy to which environment?")},
		{"extra words", "deploy to dev please", reply("I deploy to one environment at a time and read nothing after it; I did not expect `please`. Nothing was deployed.")},
		{"two envs", "deploy web to dev and prod", reply("I deploy to one environment at a time and read nothing after it; I did not expect `and prod`. Nothing was deployed.")},
		{"unicode env", "deploy to dév", badEnv("dév")},
		{"env of 100", "deploy to " + strings.Repeat("e", 100), deploy("", strings.Repeat("e", 100))},
		{"env too long", "deploy to " + strings.Repeat("e", 101), badEnv(strings.Repeat("e", 80) + "…")},
		{"env punctuation", "deploy to dev,", badEnv("dev,")},
		{"env starts with dot", "deploy to .dev", badEnv(".dev")},
		{"env in backticks", "deploy to `dev`", reply("`` `dev` `` is not an environment name: " + nameRule)},
		{"bad app", "deploy w@b to dev", reply("`w@b` is not an app name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"slash bare", "/deploy", reply("I could not read `/deploy` as a deploy request.")},
		{"slash slack syntax", "/deploy web cf7edb2 dev", reply("I could not read `/deploy web cf7edb2 dev` as a deploy request.")},
		{"slash space", "/ deploy to dev", reply("I could not read `/ deploy to dev` as a deploy request.")},
		{"mention in reply is inert", "deploy to dev @org/everyone", reply("I deploy to one environment at a time and read nothing after it; I did not expect `@org/everyone`. Nothing was deployed.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(ParseComment(tt.body), tt.want); diff != "" {
				t.Errorf("ParseComment(%q) (-got +want):\n%s", tt.body, diff)
			}
		})
	}
}
