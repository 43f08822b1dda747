package model

// BuildStep is how far a build has come, shown while the instance is
// BUILD (the portal's progress bar, the API's progress). The controller
// sets the first; the agent reports the others as it reaches them.
type BuildStep string

// The steps of a build, in order.
const (
	StepScheduled    BuildStep = "scheduled"         // placed on a host (the controller)
	StepNetworking   BuildStep = "networking"        // the ports' taps and filters on the host
	StepDownloading  BuildStep = "downloading_image" // the image into the host's cache; with a percent
	StepCreatingDisk BuildStep = "creating_disk"     // the root disk over the cached image
	StepConfigDrive  BuildStep = "config_drive"      // the config drive written
	StepStarting     BuildStep = "starting"          // the domain defined and starting
)

// BuildSteps are the steps in order.
func BuildSteps() []BuildStep {
	return []BuildStep{StepScheduled, StepNetworking, StepDownloading, StepCreatingDisk, StepConfigDrive, StepStarting}
}

// buildSpan is the share of the whole build a step stands for, as
// [from, to) percent: downloading takes most, as it does in time on a
// cold cache.
var buildSpan = map[BuildStep][2]int{
	StepScheduled:    {5, 10},
	StepNetworking:   {10, 15},
	StepDownloading:  {15, 70},
	StepCreatingDisk: {70, 80},
	StepConfigDrive:  {80, 85},
	StepStarting:     {85, 99},
}

// Known reports whether s is one of the steps.
func (s BuildStep) Known() bool { _, ok := buildSpan[s]; return ok }

// Progress is the build's overall percent at step s, percent (0-100) of
// the way through it.
func (s BuildStep) Progress(percent int) int {
	span, ok := buildSpan[s]
	if !ok {
		return 0
	}
	percent = min(max(percent, 0), 100)
	return span[0] + (span[1]-span[0])*percent/100
}
