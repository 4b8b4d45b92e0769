#!/bin/bash
# Mosaic's LocalStack ready hook: runs inside the container once every service
# is up. It creates nothing (the stacks come from 'make localstack-deploy', so
# LocalStack holds exactly what CDK deploys); it reports readiness and what to
# do next, so 'docker compose logs' tells a newcomer where they stand.
set -u

echo "mosaic: LocalStack is ready on :4566"

region="${AWS_DEFAULT_REGION:-us-east-1}"
if awslocal --region "$region" cloudformation describe-stacks --stack-name CDKToolkit >/dev/null 2>&1; then
	echo "mosaic: CDK bootstrap (CDKToolkit) present in $region"
else
	echo "mosaic: CDK not bootstrapped in $region yet: run 'make localstack-deploy' from the repository root"
fi

for stack in MosaicData-dev MosaicApp-dev; do
	if status=$(awslocal --region "$region" cloudformation describe-stacks --stack-name "$stack" \
		--query 'Stacks[0].StackStatus' --output text 2>/dev/null); then
		echo "mosaic: stack $stack: $status"
	else
		echo "mosaic: stack $stack: not deployed"
	fi
done
exit 0
