package awsemu

import "strings"

// readPrefixes start the names of the operations that change nothing.
var readPrefixes = []string{"Describe", "List", "Get", "Head", "BatchGet", "BatchCheck"}

// Writes returns the accepted requests that may have changed something:
// every one but the reads (Describe*, List*, Get*, Head*, BatchGet*) and
// STS's AssumeRole, oldest first. A dry run must make none.
func (s *Server) Writes() []Call {
	var out []Call
	for _, c := range s.Calls() {
		read := c.Op == "AssumeRole"
		for _, p := range readPrefixes {
			read = read || strings.HasPrefix(c.Op, p)
		}
		if !read {
			out = append(out, c)
		}
	}
	return out
}
