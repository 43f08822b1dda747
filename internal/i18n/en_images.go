package i18n

// enImages is the English catalogue of why the portal refuses an image's
// data (internal/diskimage's reasons). init merges it into en.
var enImages = map[string]string{
	"images.refused_backing_file":       "This image refers to a backing file, which is not allowed. Upload a self-contained image, for example one made with qemu-img convert.",
	"images.refused_data_file":          "This image refers to an external data file, which is not allowed. Upload a self-contained image, for example one made with qemu-img convert.",
	"images.refused_encrypted":          "This image is encrypted, which is not supported.",
	"images.refused_format_mismatch":    "The image's disk format is %s but the file is %s. Create the image with the file's real disk format.",
	"images.refused_unsupported_format": "Disk format %s is not supported.",
	"images.refused_invalid":            "The file is not a valid %s image.",
}

func init() { mergeEN(enImages) }
