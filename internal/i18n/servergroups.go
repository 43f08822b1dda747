package i18n

// Project > Server Groups strings, English and Simplified Chinese (服务器组
// as the glossary has it; the policies' words are in zh_cn_lifecycle.go).
var enGroups = map[string]string{
	"nav.server_groups":     "Server Groups",
	"groups.title":          "Server Groups",
	"groups.name":           "Name",
	"groups.policy":         "Policy",
	"groups.members":        "Members",
	"groups.create":         "Create server group",
	"groups.empty":          "No server groups yet.",
	"groups.confirm_delete": "Delete server group %s? Its members stay; they are no longer placed by its policy.",
	"groups.created_flash":  "Server group %s created.",
	"groups.deleted_flash":  "Server group deleted.",
	"groups.refused":        "Refused: %s",
}

var zhCNGroups = map[string]string{
	"nav.server_groups":     "服务器组",
	"groups.title":          "服务器组",
	"groups.name":           "名称",
	"groups.policy":         "策略",
	"groups.members":        "成员",
	"groups.create":         "创建服务器组",
	"groups.empty":          "还没有服务器组。",
	"groups.confirm_delete": "删除服务器组 %s？其成员保留，但不再按其策略放置。",
	"groups.created_flash":  "已创建服务器组 %s。",
	"groups.deleted_flash":  "已删除服务器组。",
	"groups.refused":        "已拒绝：%s",
}

func init() {
	mergeLang("en", enGroups)
	mergeLang("zh-CN", zhCNGroups)
}
