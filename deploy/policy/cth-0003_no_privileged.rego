# METADATA
# title: Privileged container
# custom:
#   id: CTH-0003
#   avd_id: CTH-0003
#   severity: CRITICAL
#   short_code: no-privileged
#   recommended_action: "Remove privileged: true; grant single capabilities if needed"
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.no_privileged

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	object.get(svc, "privileged", false) == true
	res := result.new(sprintf("service %q is privileged", [name]), svc)
}
