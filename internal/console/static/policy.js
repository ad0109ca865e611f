// Key policies as the AWS KMS console's create-key wizard builds them, and
// a line diff for reviewing a policy edit before it is saved.
//
// The statements follow AWS's "Default key policy" page
// (awsdocs/aws-kms-developer-guide, doc_source/key-policy-default.md): the
// console's policy "begins with the policy statement that allows access to
// the AWS account and enables IAM policies. The console then adds a key
// administrators statement, a key users statement, and (for most key types)
// a statement that allows principals to use the KMS key with other AWS
// services." The Id "key-consolepolicy-3" and the first statement's Sid
// "Enable IAM User Permissions" are what the console writes (a console
// policy quoted at https://pastebin.com/uMeHfaHB; the guide's example calls
// it "Enable IAM policies").

// adminActions are the key administrators statement's actions for a
// single-Region key ("Allow access for Key Administrators").
const adminActions = [
  'kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*',
  'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource',
];
// deleteActions are added unless "Allow key administrators to delete this
// key" is cleared.
const deleteActions = ['kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'];

// userActions returns the key users statement's actions ("Allow use of the
// key") for a key usage, as the guide lists them per key type. KEY_AGREEMENT
// is not in that page: DescribeKey, GetPublicKey and DeriveSharedSecret
// are inferred from the operations such a key supports.
export function userActions(usage) {
  switch (usage) {
    case 'GENERATE_VERIFY_MAC':
      return ['kms:DescribeKey', 'kms:GenerateMac', 'kms:VerifyMac'];
    case 'SIGN_VERIFY':
      return ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:Sign', 'kms:Verify'];
    case 'KEY_AGREEMENT':
      return ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:DeriveSharedSecret'];
    default:
      return null; // ENCRYPT_DECRYPT: depends on the spec, see below
  }
}

function principal(arns) {
  return { AWS: arns.length === 1 ? arns[0] : arns };
}

// buildKeyPolicy returns the key policy document (an object) for a new key.
// opts: {partition, account, spec, usage, admins: [arn], allowAdminDelete,
// users: [arn]}. Statements whose principal list is empty are left out
// (inferred: the console has no principal to name in them).
export function buildKeyPolicy(opts) {
  const statements = [{
    Sid: 'Enable IAM User Permissions',
    Effect: 'Allow',
    Principal: { AWS: `arn:${opts.partition}:iam::${opts.account}:root` },
    Action: 'kms:*',
    Resource: '*',
  }];
  if (opts.admins.length) {
    statements.push({
      Sid: 'Allow access for Key Administrators',
      Effect: 'Allow',
      Principal: principal(opts.admins),
      Action: opts.allowAdminDelete ? [...adminActions, ...deleteActions] : [...adminActions],
      Resource: '*',
    });
  }
  if (opts.users.length) {
    let actions = userActions(opts.usage);
    if (!actions) {
      actions = opts.spec === 'SYMMETRIC_DEFAULT'
        ? ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey']
        : ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:DescribeKey', 'kms:GetPublicKey'];
    }
    statements.push({
      Sid: 'Allow use of the key',
      Effect: 'Allow',
      Principal: principal(opts.users),
      Action: actions,
      Resource: '*',
    });
    // "for most key types": added for every type here (inferred; it grants
    // nothing to a direct call, kms:GrantIsForAWSResource being false).
    statements.push({
      Sid: 'Allow attachment of persistent resources',
      Effect: 'Allow',
      Principal: principal(opts.users),
      Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'],
      Resource: '*',
      Condition: { Bool: { 'kms:GrantIsForAWSResource': true } },
    });
  }
  return { Version: '2012-10-17', Id: 'key-consolepolicy-3', Statement: statements };
}

// diffLines returns a line diff of a and b as [{op, line}], op being ' ',
// '-' or '+', from a longest common subsequence.
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', line: x[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: '-', line: x[i++] });
    } else {
      out.push({ op: '+', line: y[j++] });
    }
  }
  while (i < n) out.push({ op: '-', line: x[i++] });
  while (j < m) out.push({ op: '+', line: y[j++] });
  return out;
}
