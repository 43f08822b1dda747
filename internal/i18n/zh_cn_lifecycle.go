package i18n

// zhCNLifecycle is the Simplified Chinese of the instance operations'
// strings, in the terms of shared/zh-CN-glossary.md (暂停, 取消暂停,
// 挂起, 恢复, 锁定, 解锁; the states 已暂停, 已挂起).
var zhCNLifecycle = map[string]string{
	"instances.action.pause":   "暂停",
	"instances.action.unpause": "取消暂停",
	"instances.action.suspend": "挂起",
	"instances.action.resume":  "恢复",
	"instances.action.lock":    "锁定",
	"instances.action.unlock":  "解锁",
	"instances.locked":         "已锁定",
	"instances.locked_help":    "已锁定：只有锁定它的用户或管理员可以对该实例执行操作。",
	"status.PAUSED":            "已暂停",
	"status.SUSPENDED":         "已挂起",
	"power.paused":             "已暂停",
	"power.suspended":          "已挂起",
}

func init() { mergeLang("zh-CN", zhCNLifecycle) }
