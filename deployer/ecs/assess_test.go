package ecs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deploybot/deploybot/bot"
)

const (
	oldTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:41"
	ourTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42"
	ourID = "ecs-svc/2"
)

func dep(id, status, td string, state types.DeploymentRolloutState, running, desired int32, reason string) types.Deployment {
	return types.Deployment{
		Id: aws.String(id), Status: aws.String(status), TaskDefinition: aws.String(td),
		RolloutState: state, RunningCount: running, DesiredCount: desired,
		RolloutStateReason: aws.String(reason),
	}
}

func TestAssess(t *testing.T) {
	const cb = "ECS deployment circuit breaker: tasks failed to start."
	for _, tc := range []struct {
		name     string
		svc      types.Service
		done     bool
		line     string
		errParts []string // the error message must contain each
	}{{
		name: "in progress",
		svc: types.Service{Deployments: []types.Deployment{
			dep(ourID, "PRIMARY", ourTD, types.DeploymentRolloutStateInProgress, 1, 2, ""),
			dep("ecs-svc/1", "ACTIVE", oldTD, types.DeploymentRolloutStateCompleted, 1, 2, ""),
		}},
		line: "rollout 1/2 tasks running",
	}, {
		name: "all running, old still draining",
		svc: types.Service{Deployments: []types.Deployment{
			dep(ourID, "PRIMARY", ourTD, types.DeploymentRolloutStateInProgress, 2, 2, ""),
			dep("ecs-svc/1", "ACTIVE", oldTD, types.DeploymentRolloutStateCompleted, 1, 2, ""),
		}},
		line: "rollout 2/2 tasks running, old tasks draining",
	}, {
		name: "completed",
		svc: types.Service{Deployments: []types.Deployment{
			dep(ourID, "PRIMARY", ourTD, types.DeploymentRolloutStateCompleted, 2, 2, ""),
		}},
		done: true,
	}, {
		name: "no rolloutState tracked, steady",
		svc: types.Service{Deployments: []types.Deployment{
			dep(ourID, "PRIMARY", ourTD, "", 2, 2, ""),
		}},
		done: true,
	}, {
		name: "failed, rollback running",
		svc: types.Service{Deployments: []types.Deployment{
			dep("ecs-svc/3", "PRIMARY", oldTD, types.DeploymentRolloutStateInProgress, 2, 2, ""),
			dep(ourID, "ACTIVE", ourTD, types.DeploymentRolloutStateFailed, 0, 2, cb),
		}},
		errParts: []string{"ECS rollout of web:42 failed: " + cb, "rolled back to web:41"},
	}, {
		// What a naive waiter calls stable: one deployment, all running.
		name: "rolled back and drained",
		svc: types.Service{
			Deployments: []types.Deployment{
				dep("ecs-svc/3", "PRIMARY", oldTD, types.DeploymentRolloutStateCompleted, 2, 2, ""),
			},
			Events: []types.ServiceEvent{
				{Message: aws.String("(service web) has reached a steady state.")},
				{Message: aws.String("(service web) (deployment " + ourID + ") deployment failed: tasks failed to start.")},
			},
		},
		errParts: []string{"ECS rollout of web:42 failed: deployment failed: tasks failed to start.", "rolled back to web:41"},
	}, {
		name: "replaced, no trace of why",
		svc: types.Service{Deployments: []types.Deployment{
			dep("ecs-svc/9", "PRIMARY", oldTD, types.DeploymentRolloutStateCompleted, 2, 2, ""),
		}},
		errParts: []string{"went back to web:41"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := &watch{taskDef: ourTD, deploymentID: ourID}
			done, line, err := w.assess(&tc.svc)
			if done != tc.done || line != tc.line {
				t.Errorf("assess = (%v, %q), want (%v, %q)", done, line, tc.done, tc.line)
			}
			if len(tc.errParts) == 0 {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			if bot.ErrorCode(err) != bot.ECONFLICT {
				t.Fatalf("error %v, want code %s", err, bot.ECONFLICT)
			}
			for _, part := range tc.errParts {
				if !strings.Contains(bot.ErrorMessage(err), part) {
					t.Errorf("message %q lacks %q", bot.ErrorMessage(err), part)
				}
			}
		})
	}
}

// TestRegisterInputCopiesEveryField sets every field of a TaskDefinition
// that RegisterTaskDefinitionInput also has and checks each arrives, so a
// field added by an SDK upgrade cannot be dropped silently.
func TestRegisterInputCopiesEveryField(t *testing.T) {
	td := &types.TaskDefinition{
		TaskDefinitionArn:    aws.String(oldTD),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("old")}},
	}
	tdv := reflect.ValueOf(td).Elem()
	inType := reflect.TypeOf(ecs.RegisterTaskDefinitionInput{})
	notOnTaskDefinition := map[string]bool{"Tags": true} // comes from DescribeTaskDefinition's output
	for i := range inType.NumField() {
		f := inType.Field(i)
		if !f.IsExported() || notOnTaskDefinition[f.Name] || f.Name == "ContainerDefinitions" {
			continue
		}
		dst := tdv.FieldByName(f.Name)
		if !dst.IsValid() {
			t.Errorf("RegisterTaskDefinitionInput.%s has no TaskDefinition counterpart; decide how to fill it", f.Name)
			continue
		}
		dst.Set(nonZero(t, f.Name, dst.Type()))
	}
	tags := []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}

	in, err := registerInput(td, tags, "app", "new")
	if err != nil {
		t.Fatal(err)
	}
	inv := reflect.ValueOf(in).Elem()
	for i := range inType.NumField() {
		f := inType.Field(i)
		if f.IsExported() && inv.Field(i).IsZero() {
			t.Errorf("registerInput left %s empty", f.Name)
		}
	}
	if got := aws.ToString(in.ContainerDefinitions[0].Image); got != "new" {
		t.Errorf("image = %q, want new", got)
	}
	if got := aws.ToString(td.ContainerDefinitions[0].Image); got != "old" {
		t.Errorf("registerInput changed the described definition's image to %q", got)
	}
}

// nonZero returns a non-zero value of typ: enough to see it was copied.
func nonZero(t *testing.T, name string, typ reflect.Type) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(typ.Elem()))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(typ, 1, 1))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(1)
	default:
		t.Fatalf("field %s: no non-zero value for kind %s", name, typ.Kind())
	}
	return v
}
