package slackemu

// User is a workspace member as users.info describes one.
type User struct {
	ID          string
	Name        string // the handle
	RealName    string
	DisplayName string // may be empty, as on Slack
}

// AddUser makes u known to users.info.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]User{}
	}
	s.users[u.ID] = u
}

// usersInfo answers as Slack does: the user with the real and display
// names in its profile, or user_not_found.
func (s *Server) usersInfo(a args) (map[string]any, string) {
	s.mu.Lock()
	u, ok := s.users[a.get("user")]
	s.mu.Unlock()
	if !ok {
		return nil, "user_not_found"
	}
	return map[string]any{"user": map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.RealName,
		"profile": map[string]any{"real_name": u.RealName, "display_name": u.DisplayName},
	}}, ""
}
