# METADATA
# title: Container running as root by configuration
# custom:
#   id: CTH-0002
#   avd_id: CTH-0002
#   severity: HIGH
#   short_code: no-root-user
#   recommended_action: Leave `user` unset (image USER) or set a non-zero uid
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.no_root_user

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	user := sprintf("%v", [object.get(svc, "user", "")])
	root_user(user)
	res := result.new(sprintf("service %q runs as root (user %q)", [name, user]), svc)
}

root_user(user) if user in {"0", "root", "0:0", "root:root"}

root_user(user) if startswith(user, "0:")

root_user(user) if startswith(user, "root:")
