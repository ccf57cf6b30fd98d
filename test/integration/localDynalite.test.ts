import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AddressInfo } from 'node:net';
import { startDynalite } from '../../src/local/dynalite';

/**
 * The offline stack's dynalite (src/local/dynalite.ts) keeps a table's description for its item operations.
 * A table deleted and created again under the same name, as a stage's tables are, must be seen as it is now.
 */
describe("local dynalite: item operations follow a table's description when it changes", () => {
  let dynalite: ReturnType<typeof startDynalite>;
  let ddb: DynamoDBClient;
  let db: DynamoDBDocumentClient;
  beforeAll(async () => {
    dynalite = startDynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => dynalite.server.listen(0, '127.0.0.1', resolve));
    ddb = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(dynalite.server.address() as AddressInfo).port}`,
    });
    db = DynamoDBDocumentClient.from(ddb);
  });
  afterAll(async () => {
    ddb?.destroy();
    dynalite.server.closeAllConnections();
    await new Promise((resolve) => dynalite.server.close(resolve));
  });

  const table = (name: string, key: string, extra: Partial<CreateTableCommandInput> = {}): CreateTableCommandInput => ({
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
    ...extra,
  });

  it('a table created again with another key: puts are checked against the new key, and stored under it', async () => {
    await ddb.send(new CreateTableCommand(table('recreated', 'id')));
    await db.send(new PutCommand({ TableName: 'recreated', Item: { id: 'a' } }));
    await ddb.send(new DeleteTableCommand({ TableName: 'recreated' }));
    await ddb.send(new CreateTableCommand(table('recreated', 'pk')));

    await expect(db.send(new PutCommand({ TableName: 'recreated', Item: { id: 'b' } }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    await db.send(new PutCommand({ TableName: 'recreated', Item: { pk: 'c', n: 1 } }));
    expect((await db.send(new GetCommand({ TableName: 'recreated', Key: { pk: 'c' } }))).Item).toEqual({
      pk: 'c',
      n: 1,
    });
  });

  it('a table created again with an index: a put writes its index entry', async () => {
    await ddb.send(new CreateTableCommand(table('indexed', 'pk')));
    await db.send(new PutCommand({ TableName: 'indexed', Item: { pk: 'a', owner: 'x' } }));
    await ddb.send(new DeleteTableCommand({ TableName: 'indexed' }));
    await ddb.send(
      new CreateTableCommand(
        table('indexed', 'pk', {
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'owner', AttributeType: 'S' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: 'byOwner',
              KeySchema: [{ AttributeName: 'owner', KeyType: 'HASH' }],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
        }),
      ),
    );

    await db.send(new PutCommand({ TableName: 'indexed', Item: { pk: 'b', owner: 'x' } }));
    const found = await db.send(
      new QueryCommand({
        TableName: 'indexed',
        IndexName: 'byOwner',
        KeyConditionExpression: '#o = :o',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':o': 'x' },
      }),
    );
    expect(found.Items).toEqual([{ pk: 'b', owner: 'x' }]);
  });
});
