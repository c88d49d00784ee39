# METADATA
# title: Service without a memory limit
# custom:
#   id: CTH-0006
#   avd_id: CTH-0006
#   severity: HIGH
#   short_code: memory-limits
#   recommended_action: Set deploy.resources.limits.memory
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.memory_limits

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	not object.get(svc, ["deploy", "resources", "limits", "memory"], false)
	res := result.new(sprintf("service %q has no memory limit", [name]), svc)
}
