package bot

import (
	"context"
	"strings"

	"github.com/slack-go/slack"
)

// FileUploader is the slack-go call the Notifier uploads build logs with;
// *slack.Client is one. slack-go's UploadFileContext takes Slack's current
// route (files.getUploadURLExternal, a POST of the content to the URL it
// gives, files.completeUploadExternal), never the retired files.upload.
type FileUploader interface {
	UploadFileContext(ctx context.Context, params slack.UploadFileParameters) (*slack.FileSummary, error)
}

var _ FileUploader = (*slack.Client)(nil)

const (
	// defaultLogName names a log uploaded without a usable name.
	defaultLogName = "build.log"
	// emptyLog stands for a log with nothing in it: Slack takes no empty files.
	emptyLog = "(the build log is empty)\n"
	// maxFileName bounds an uploaded file's name.
	maxFileName = 200
)

// logFileName makes name a plain file name: no directories, no control
// characters, not empty, not too long.
func logFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if strings.Trim(name, "._ ") == "" {
		return defaultLogName
	}
	if r := []rune(name); len(r) > maxFileName {
		name = string(r[len(r)-maxFileName:]) // keep the extension
	}
	return name
}
