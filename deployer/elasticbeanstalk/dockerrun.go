package elasticbeanstalk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

type dockerrunV1 struct {
	AWSEBDockerrunVersion string               `json:"AWSEBDockerrunVersion"`
	Authentication        *dockerrunAuth       `json:"Authentication,omitempty"`
	Image                 dockerrunImage       `json:"Image"`
	Ports                 []dockerrunPortEntry `json:"Ports,omitempty"`
}

type dockerrunAuth struct {
	Bucket string `json:"Bucket"`
	Key    string `json:"Key"`
}

type dockerrunImage struct {
	Name   string `json:"Name"`
	Update string `json:"Update"`
}

// Ports are strings, as in EB's own examples of the v1 format.
type dockerrunPortEntry struct {
	ContainerPort string `json:"ContainerPort"`
}

// singleContainer is the v1 Dockerrun.aws.json for image.
func singleContainer(t *bot.EBTarget, image string) ([]byte, error) {
	d := dockerrunV1{
		AWSEBDockerrunVersion: "1",
		// The image is pinned by digest: there is nothing newer to pull, and
		// "true" would only make every instance ask the registry again.
		Image: dockerrunImage{Name: image, Update: "false"},
	}
	if a := t.Authentication; a != nil {
		d.Authentication = &dockerrunAuth{Bucket: a.Bucket, Key: a.Key}
	}
	for _, p := range t.Ports {
		d.Ports = append(d.Ports, dockerrunPortEntry{ContainerPort: strconv.Itoa(p)})
	}
	return json.MarshalIndent(d, "", "  ")
}

// multiContainer returns current, a v2 Dockerrun.aws.json, with the image of
// container replaced. Everything is decoded into raw JSON, not into a
// struct, so fields deploybot does not know (volumes, links, logging,
// executionRoleArn, …) pass through as they were.
func multiContainer(current []byte, label, container, image string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(current, &doc); err != nil {
		return nil, bot.Errorf(bot.EINVALID, "the Dockerrun.aws.json of version %s is not valid JSON: %v", label, err)
	}
	if v := strings.Trim(string(doc["AWSEBDockerrunVersion"]), `" `); v != "2" {
		return nil, bot.Errorf(bot.EINVALID, "the Dockerrun.aws.json of version %s has AWSEBDockerrunVersion %s; dockerrun: v2 needs a version 2 (multi-container) file", label, orDefault(v, "missing"))
	}
	var containers []map[string]json.RawMessage
	if err := json.Unmarshal(doc["containerDefinitions"], &containers); err != nil {
		return nil, bot.Errorf(bot.EINVALID, "the containerDefinitions of version %s's Dockerrun.aws.json are not a list of objects", label)
	}
	imageJSON, err := json.Marshal(image)
	if err != nil {
		return nil, err
	}
	var names []string
	found := false
	for _, c := range containers {
		var name string
		json.Unmarshal(c["name"], &name)
		names = append(names, name)
		if name == container {
			c["image"] = imageJSON
			found = true
		}
	}
	if !found {
		return nil, bot.Errorf(bot.EINVALID, "container %s is not in the Dockerrun.aws.json of version %s; its containers: %s", container, label, strings.Join(names, ", "))
	}
	if doc["containerDefinitions"], err = json.Marshal(containers); err != nil {
		return nil, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, out, "", "  "); err != nil {
		return nil, err
	}
	return indented.Bytes(), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
