package awsemu

// ebSwap is a SwapEnvironmentCNAMEs in progress on one of its two
// environments: EB shows both Updating until the DNS change is done.
type ebSwap struct {
	requestID string
	cname     string // the CNAME this environment gets
	other     string // the other environment's name
	polls     int
}

// swapEnvironmentCNAMEs exchanges the CNAMEs of two Ready environments of
// one application, as blue/green deployments on Elastic Beanstalk do.
func (s *Server) swapEnvironmentCNAMEs(q *queryRequest) (any, error) {
	find := func(role string) (*ebEnv, error) {
		name, id := q.get(role+"EnvironmentName"), q.get(role+"EnvironmentId")
		if name == "" && id == "" {
			return nil, clientError("InvalidParameterCombination", "%sEnvironmentName or %sEnvironmentId is required.", role, role)
		}
		for _, e := range s.ebEnvs {
			if e.status != "Terminated" && (id != "" && e.id == id || id == "" && e.name == name) {
				return e, nil
			}
		}
		return nil, clientError("InvalidParameterValue", "No Environment found for EnvironmentName = '%s'.", name+id)
	}
	src, err := find("Source")
	if err != nil {
		return nil, err
	}
	dst, err := find("Destination")
	if err != nil {
		return nil, err
	}
	if src == dst {
		return nil, clientError("InvalidParameterValue", "Cannot swap CNAMEs of environment %s with itself.", src.name)
	}
	if src.app != dst.app {
		return nil, clientError("InvalidParameterValue", "Environments %s and %s belong to different applications.", src.name, dst.name)
	}
	for _, e := range []*ebEnv{src, dst} {
		if e.status != "Ready" {
			return nil, clientError("InvalidParameterValue", "Environment named %s is in an invalid state for this operation. Must be Ready.", e.name)
		}
	}
	s.swapCount++
	src.swap = &ebSwap{requestID: q.requestID, cname: dst.cname, other: dst.name}
	dst.swap = &ebSwap{requestID: q.requestID, cname: src.cname, other: src.name}
	for _, e := range []*ebEnv{src, dst} {
		e.status, e.updated = "Updating", s.ebNow()
		s.ebEvent(e, q.requestID, "INFO", "swapEnvironmentCNAMEs is starting.")
	}
	return nil, nil
}

// advanceSwap ends a swap after the emulator's update polls; the CNAMEs
// change hands only then, both at once, as DNS does.
func (s *Server) advanceSwap(env *ebEnv) {
	sw := env.swap
	sw.polls++
	if sw.polls < s.ebPolls {
		return
	}
	for _, e := range []*ebEnv{env, s.liveEBEnv(sw.other)} {
		if e == nil || e.swap == nil {
			continue
		}
		other := e.swap.other
		e.cname, e.swap, e.status, e.updated = e.swap.cname, nil, "Ready", s.ebNow()
		s.ebEvent(e, sw.requestID, "INFO", "Completed swapping CNAMEs for environments '%s' and '%s'.", e.name, other)
	}
}

// EBSwaps returns how many SwapEnvironmentCNAMEs calls the emulator
// accepted.
func (s *Server) EBSwaps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swapCount
}

// IgnoreEBFilters makes DescribeApplications, DescribeEnvironments and
// DescribeApplicationVersions ignore their name, id and label filters and
// list everything, as some stand-ins for AWS do: a client must check the
// names in the answer.
func (s *Server) IgnoreEBFilters(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ebLoose = on
}
