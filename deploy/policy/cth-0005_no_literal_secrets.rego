# METADATA
# title: Literal password or secret in the environment
# custom:
#   id: CTH-0005
#   avd_id: CTH-0005
#   severity: CRITICAL
#   short_code: no-literal-secrets
#   recommended_action: Use a secret file (*_FILE variables and Swarm secrets)
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.no_literal_secrets

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	env := object.get(svc, "environment", {})
	is_object(env)
	some key, value in env
	secret_name(key)
	not endswith(upper(key), "_FILE")
	sprintf("%v", [value]) != ""
	res := result.new(sprintf("service %q sets %s in plain text", [name, key]), svc)
}

secret_name(key) if regex.match(`(?i)(PASSWORD|SECRET|TOKEN|PRIVATE_KEY)`, key)
