package awsemu

import (
	"fmt"
	"time"
)

// ebFleet is an environment with enhanced health reporting and a rolling
// deployment policy: each update moves its instances to the new version
// a batch per poll, so DescribeInstancesHealth shows the rollout.
type ebFleet struct {
	instances []ebInstance
}

type ebInstance struct {
	id         string
	version    string
	deployment int
	status     string // Deployed, Deploying, Failed
	at         time.Time
}

// SetEBRollingInstances turns on enhanced health for the environment and
// gives it n instances, which updates move to the new version in rolling
// batches over the update's polls (SetEBUpdatePolls).
func (s *Server) SetEBRollingInstances(environment string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env := s.liveEBEnv(environment)
	if env == nil {
		panic("awsemu.SetEBRollingInstances: no environment " + environment)
	}
	f := &ebFleet{}
	for i := range n {
		f.instances = append(f.instances, ebInstance{
			id: fmt.Sprintf("i-0%016x", 0xbee0000+i+100*s.ebIDs), version: env.version,
			deployment: env.deployments, status: "Deployed", at: s.ebNow(),
		})
	}
	env.fleet = f
}

// rollFleet moves the instances of an update in progress: after poll p of
// ebPolls, p/ebPolls of them run the new version (all of them only when
// the update succeeds).
func (s *Server) rollFleet(env *ebEnv, u *ebUpdate) {
	f := env.fleet
	if f == nil {
		return
	}
	done := len(f.instances) * u.polls / s.ebPolls
	if u.polls >= s.ebPolls && !s.ebFailing[env.name] {
		done = len(f.instances)
	}
	for i := range f.instances {
		in := &f.instances[i]
		switch {
		case i < done && in.version != u.label:
			in.version, in.deployment, in.status, in.at = u.label, env.deployments, "Deployed", s.ebNow()
		case i == done && in.version != u.label:
			in.status = "Deploying"
			if u.polls >= s.ebPolls {
				in.status = "Failed"
			}
		}
	}
}

type ebInstanceHealthXML struct {
	InstanceID   string `xml:"InstanceId"`
	HealthStatus string
	Color        string
	Deployment   struct {
		VersionLabel   string
		DeploymentID   int `xml:"DeploymentId"`
		Status         string
		DeploymentTime string
	}
}

func (s *Server) describeInstancesHealth(q *queryRequest) (any, error) {
	name, id := q.get("EnvironmentName"), q.get("EnvironmentId")
	var env *ebEnv
	for _, e := range s.ebEnvs {
		if e.status != "Terminated" && (id != "" && e.id == id || id == "" && e.name == name) {
			env = e
		}
	}
	if env == nil {
		return nil, clientError("InvalidRequestException", "No Environment found for EnvironmentName = '%s'.", name+id)
	}
	if env.fleet == nil {
		return nil, clientError("InvalidRequestException", "Enhanced health reporting is not enabled for environment '%s'.", env.name)
	}
	var out []ebInstanceHealthXML
	for _, in := range env.fleet.instances {
		x := ebInstanceHealthXML{InstanceID: in.id, HealthStatus: "Ok", Color: "Green"}
		if in.status != "Deployed" {
			x.HealthStatus, x.Color = "Info", "Grey"
		}
		x.Deployment.VersionLabel, x.Deployment.DeploymentID = in.version, in.deployment
		x.Deployment.Status, x.Deployment.DeploymentTime = in.status, isoTime(in.at)
		out = append(out, x)
	}
	return struct {
		InstanceHealthList []ebInstanceHealthXML `xml:"InstanceHealthList>member"`
		RefreshedAt        string
	}{out, isoTime(s.ebNow())}, nil
}
