package bot

import (
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
		secret    string // must not survive; empty when there is none
	}{
		{"postgres://deploybot:hunter2@db:5432/deploybot?sslmode=require", "postgres://deploybot:xxxxx@db:5432/deploybot?sslmode=require", "hunter2"},
		{"postgresql://u:hunter2@db/d", "postgresql://u:xxxxx@db/d", "hunter2"},
		{"postgres://deploybot@db/deploybot", "postgres://deploybot@db/deploybot", ""},
		{"postgres://db:5432/deploybot", "postgres://db:5432/deploybot", ""},
		// Unescaped '@', '/' and ':' in the password: a URL parser reads
		// part of it as the host, port or path.
		{"postgres://u:p@ss/w:rd@db/d", "postgres://u:xxxxx@db/d", "ss/w:rd"},
		{"postgres://u:12/hunter2@db/d", "postgres://u:xxxxx@db/d", "hunter2"},
		// Typos in the scheme, which config validation echoes.
		{"postgress://u:hunter2@db/d", "postgress://u:xxxxx@db/d", "hunter2"},
		{"postgres:/u:hunter2@db/d", "postgres:xxxxx@db/d", "hunter2"},
		{"u:hunter2@db/d", "u:xxxxx@db/d", "hunter2"},
		// Passwords as parameters.
		{"postgres://u@db/d?password=hunter2&sslmode=require", "postgres://u@db/d?password=xxxxx&sslmode=require", "hunter2"},
		{"postgres://u@db/d?sslpassword=hunter2", "postgres://u@db/d?sslpassword=xxxxx", "hunter2"},
		{"host=db user=u password=hunter2 dbname=d", "host=db user=u password=xxxxx dbname=d", "hunter2"},
		{"host=db password = hunter2 dbname=d", "host=db password = xxxxx dbname=d", "hunter2"},
		{"host=db password='hunter 2\\' x' dbname=d", "host=db password=xxxxx dbname=d", "hunter 2"},
		{`host=db password=hunter\ 2 dbname=d`, "host=db password=xxxxx dbname=d", "2"},
		{"host=db password='hunter2", "host=db password=xxxxx", "hunter2"},
		{"host=db PASSWORD=hunter2", "host=db PASSWORD=xxxxx", "hunter2"},
		{"host=db user=u dbname=d", "host=db user=u dbname=d", ""},
		// SQLite paths carry no password and stay whole.
		{"sqlite:deploybot.db", "sqlite:deploybot.db", ""},
		{"sqlite:/data/a:b@c.db", "sqlite:/data/a:b@c.db", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		got := RedactDSN(tt.dsn)
		if got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
		if tt.secret != "" && strings.Contains(got, tt.secret) {
			t.Errorf("RedactDSN(%q) = %q still holds %q", tt.dsn, got, tt.secret)
		}
	}
}
