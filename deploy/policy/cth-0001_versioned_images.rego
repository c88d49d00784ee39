# METADATA
# title: Image without a version tag, or tagged latest
# custom:
#   id: CTH-0001
#   avd_id: CTH-0001
#   severity: HIGH
#   short_code: versioned-images
#   recommended_action: Pin every image by version (the app by ${CTH_IMAGE_TAG})
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.versioned_images

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	image := object.get(svc, "image", "")
	image != ""
	not versioned(image)
	res := result.new(sprintf("service %q: image %q has no version tag or uses latest", [name, image]), svc)
}

versioned(image) if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	not endswith(image, ":latest")
}
