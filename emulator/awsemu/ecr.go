package awsemu

import (
	"slices"
	"time"
)

type repository struct {
	name   string
	images []*image
}

type image struct {
	digest   string
	tags     []string
	pushedAt time.Time
}

// PutImage seeds repository (created if missing) with an image whose tag
// is tag. As in a mutable-tag ECR repository, the tag moves off any other
// image that had it.
func (s *Server) PutImage(repositoryName, tag, digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repos[repositoryName]
	if repo == nil {
		repo = &repository{name: repositoryName}
		s.repos[repositoryName] = repo
	}
	var target *image
	for _, img := range repo.images {
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == tag })
		if img.digest == digest {
			target = img
		}
	}
	if target == nil {
		target = &image{digest: digest}
		repo.images = append(repo.images, target)
	}
	target.tags = append(target.tags, tag)
	target.pushedAt = s.now()
}

func (s *Server) ecr(op string, body []byte) (any, error) {
	switch op {
	case "DescribeImages":
		return s.describeImages(body)
	}
	return nil, clientError("UnknownOperationException", "the emulator does not implement ECR %s", op)
}

type imageIdentifier struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

type imageDetail struct {
	RegistryID             string   `json:"registryId"`
	RepositoryName         string   `json:"repositoryName"`
	ImageDigest            string   `json:"imageDigest"`
	ImageTags              []string `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64    `json:"imageSizeInBytes"`
	ImagePushedAt          float64  `json:"imagePushedAt"`
	ImageManifestMediaType string   `json:"imageManifestMediaType"`
	ArtifactMediaType      string   `json:"artifactMediaType"`
}

func (s *Server) describeImages(body []byte) (any, error) {
	var in struct {
		RegistryID     string            `json:"registryId"`
		RepositoryName string            `json:"repositoryName"`
		ImageIDs       []imageIdentifier `json:"imageIds"`
		Filter         struct {
			TagStatus string `json:"tagStatus"`
		} `json:"filter"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	registry := in.RegistryID
	if registry == "" {
		registry = AccountID
	}
	if in.RepositoryName == "" {
		return nil, clientError("InvalidParameterException", "repositoryName is required")
	}
	repo := s.repos[in.RepositoryName]
	if repo == nil {
		return nil, clientError("RepositoryNotFoundException",
			"The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, registry)
	}
	detail := func(img *image) imageDetail {
		return imageDetail{
			RegistryID:             registry,
			RepositoryName:         repo.name,
			ImageDigest:            img.digest,
			ImageTags:              slices.Clone(img.tags),
			ImageSizeInBytes:       31457280,
			ImagePushedAt:          epoch(img.pushedAt),
			ImageManifestMediaType: "application/vnd.docker.distribution.manifest.v2+json",
			ArtifactMediaType:      "application/vnd.docker.container.image.v1+json",
		}
	}

	details := []imageDetail{}
	if len(in.ImageIDs) == 0 {
		for _, img := range repo.images {
			tagged := len(img.tags) > 0
			switch in.Filter.TagStatus {
			case "TAGGED":
				if !tagged {
					continue
				}
			case "UNTAGGED":
				if tagged {
					continue
				}
			}
			details = append(details, detail(img))
		}
		return map[string]any{"imageDetails": details}, nil
	}
	// DescribeImages, unlike BatchGetImage, fails as a whole when any of
	// the asked-for images is missing.
	for _, id := range in.ImageIDs {
		i := slices.IndexFunc(repo.images, func(img *image) bool {
			return (id.ImageDigest == "" || img.digest == id.ImageDigest) &&
				(id.ImageTag == "" || slices.Contains(img.tags, id.ImageTag))
		})
		if i < 0 || id.ImageDigest == "" && id.ImageTag == "" {
			return nil, clientError("ImageNotFoundException",
				"The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
				orNull(id.ImageDigest), orNull(id.ImageTag), repo.name, registry)
		}
		details = append(details, detail(repo.images[i]))
	}
	return map[string]any{"imageDetails": details}, nil
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}
